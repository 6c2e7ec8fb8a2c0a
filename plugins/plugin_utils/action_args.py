# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection's action plugins share on the controller."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator


def validated_args(name, spec, task_args):
    """The task's arguments checked against spec, defaults filled in; a bad one fails the task by name."""
    validation = ArgumentSpecValidator(spec).validate(task_args)
    if validation.error_messages:
        raise AnsibleActionFail('%s: %s' % (name, '; '.join(validation.error_messages)))
    return validation.validated_parameters
