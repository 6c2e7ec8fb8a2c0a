# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn network_policy and gateway_api inventory data into Kubernetes objects and error lists.

A filter, not a module: building objects is a pure transform on the controller, so it needs no connection, behaves
the same in check mode, and leaves all API traffic to kubernetes.core.k8s. The logic lives in module_utils.
"""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.packetjungle.datapath.plugins.module_utils.k8s_objects import (
    build_gateway_api_objects,
    build_namespaces,
    build_network_policies,
    gateway_api_status_problems,
    lint_policies,
    validate_gateway_api_crds,
    validate_gateway_api_input,
    validate_network_policy_input,
)


class FilterModule(object):
    def filters(self):
        return {
            'network_policy_errors': validate_network_policy_input,
            'network_policy_objects': build_network_policies,
            'namespace_objects': build_namespaces,
            'k8s_policy_lint': lint_policies,
            'gateway_api_crds_errors': validate_gateway_api_crds,
            'gateway_api_errors': validate_gateway_api_input,
            'gateway_api_objects': build_gateway_api_objects,
            'gateway_api_status': gateway_api_status_problems,
        }
