# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the cilium role: the logic lives in module_utils/cilium_values.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.packetjungle.datapath.plugins.module_utils.cilium_values import (
    config_differences,
    expected_config,
    helm_values,
    preflight,
)


def cilium_preflight(settings, ephemeral_ports=None, extra_values=None):
    return preflight(settings, tuple(ephemeral_ports) if ephemeral_ports else None, extra_values)


class FilterModule(object):
    def filters(self):
        return {
            'cilium_preflight': cilium_preflight,
            'cilium_helm_values': helm_values,
            'cilium_expected_config': expected_config,
            'cilium_config_differences': config_differences,
        }
