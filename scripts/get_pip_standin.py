# Stand-in for ansible-test's get-pip bootstrap script on machines that reach
# PyPI but not ci-files.testing.ansible.com. Called as
#   python get_pip.py [pip options] pip==X [--no-setuptools] [--no-wheel]
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null for the rest of the process,
# which would hide the machine's pip configuration (index, CA bundle).
os.environ.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
