# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Modules run on the target, where module.warn() lands in the result. Importing
a controller plugin anywhere in the same pytest process (the action plugin
tests do) switches ansible.module_utils to controller mode, where warnings go
to the Display instead; each module test runs on the target side again."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import pytest

from ansible.module_utils import _internal


@pytest.fixture(autouse=True)
def target_side(monkeypatch):
    monkeypatch.setattr(_internal, 'is_controller', False)
