-- The incident list behind GET /api/incidents, with a few rows so a fresh
-- lab has something to show.
CREATE TABLE incidents (
    id          bigserial PRIMARY KEY,
    title       text        NOT NULL,
    severity    text        NOT NULL CHECK (severity IN ('P1', 'P2', 'P3', 'P4')),
    status      text        NOT NULL DEFAULT 'open'
                            CHECK (status IN ('open', 'mitigated', 'resolved')),
    service     text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);

INSERT INTO incidents (title, severity, status, service, created_at, resolved_at) VALUES
    ('High error rate on checkout API',        'P1', 'resolved',  'checkout',      now() - interval '9 days', now() - interval '9 days' + interval '47 minutes'),
    ('P95 latency above 500 ms on search',     'P2', 'resolved',  'search',        now() - interval '6 days', now() - interval '6 days' + interval '2 hours'),
    ('Certificate for api host expires soon',  'P3', 'mitigated', 'edge',          now() - interval '3 days', NULL),
    ('Replica lag on reporting database',      'P3', 'open',      'reporting',     now() - interval '1 day',  NULL),
    ('Cache hit rate below 80 %',              'P4', 'open',      'incident-api',  now() - interval '2 hours', NULL);
