# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The boundary every module test fakes, and nothing more: AnsibleModule's
run_command (a table argv -> (rc, stdout, stderr) or a callable giving it;
every argv recorded; LANG=C checked), get_bin_path, and exit_json/fail_json
raised as exceptions the test catches. The module's own logic runs for real."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures')
LANG_C = {'LANG': 'C', 'LC_ALL': 'C'}


class ExitJson(Exception):
    pass


class FailJson(Exception):
    pass


def fixture(area, name, binary=False):
    """A captured file from tests/unit/fixtures/AREA/."""
    with open(os.path.join(FIXTURES, area, name), 'rb' if binary else 'r') as handle:
        return handle.read()


def fake_module(monkeypatch, state, bins=None):
    """Patch AnsibleModule at its boundary. state gains 'table' and 'calls';
    bins maps a command to its path (None: every command is /usr/sbin/NAME)."""
    state.setdefault('table', {})
    state.setdefault('calls', [])

    def run_command(self, args, **kwargs):
        assert kwargs.get('environ_update') == LANG_C
        state['calls'].append(list(args))
        answer = state['table'][tuple(args)]
        return answer() if callable(answer) else answer

    def get_bin_path(self, name, required=False, *args, **kwargs):
        path = '/usr/sbin/' + name if bins is None else bins.get(name)
        if path is None and required:
            self.fail_json(msg='Failed to find required executable "%s"' % name)
        return path

    def exit_json(self, **kwargs):
        raise ExitJson(kwargs)

    def fail_json(self, **kwargs):
        raise FailJson(kwargs)

    for name, replacement in (('run_command', run_command), ('get_bin_path', get_bin_path),
                              ('exit_json', exit_json), ('fail_json', fail_json)):
        monkeypatch.setattr(basic.AnsibleModule, name, replacement)
    return state


def run_main(main, args, expect=ExitJson):
    """Run a module's main() with args; return what it exited or failed with."""
    with patch_module_args(args):
        with pytest.raises(expect) as caught:
            main()
    return caught.value.args[0]
