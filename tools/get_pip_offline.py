# Copyright: Contributors to the platform_eng.incident_response collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip.py script that ansible-test bootstraps sanity venvs with.

ansible-test creates every sanity venv without pip and then runs
~/.ansible/test/cache/get_pip_<version>.py, downloading it from
ci-files.testing.ansible.com when it is missing. That host is out of reach
here, so tools/sanity.sh installs this file under that name, next to the pip
wheel it fetched from PyPI. Like the real script, it runs pip from the wheel
to install pip into the running interpreter, but finds the wheel in the cache
instead of embedding it.
"""

from __future__ import annotations

import glob
import os
import sys

# Options only the real get-pip.py understands; pip itself would reject them.
GET_PIP_ONLY_OPTIONS = frozenset(('--no-setuptools', '--no-wheel'))


def main() -> int:
    cache_dir = os.path.dirname(os.path.abspath(__file__))
    wheels = sorted(glob.glob(os.path.join(cache_dir, 'pip-*-py3-none-any.whl')))

    if not wheels:
        print('get-pip stand-in: no pip wheel in %s; run tools/sanity.sh to fetch one' % cache_dir, file=sys.stderr)
        return 1

    # pip runs from a wheel on sys.path; that is how the real get-pip.py works too.
    sys.path.insert(0, wheels[-1])

    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]

    # --no-index keeps the bootstrap offline; the requested pip==<version> is found in the cache.
    return pip_main(['install', '--no-index', '--find-links', cache_dir, '--upgrade', '--force-reinstall'] + args)


if __name__ == '__main__':
    sys.exit(main())
