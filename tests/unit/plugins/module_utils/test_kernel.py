# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import gzip
import os

import pytest

from ansible_collections.packetjungle.datapath.plugins.module_utils.kernel import (
    FSTAB_MARKER, KernelView, builtin_evidence, classify_virtualization, config_symbols, container_from_evidence,
    missing_reason, mount_for, parse_cpuinfo_flags, parse_environ, parse_filesystems, parse_kernel_config,
    parse_modules_builtin, parse_mountinfo, parse_proc_modules, parse_proc_swaps, parse_systemctl_units,
    plan_fstab_swap_off, qdisc_support, render_modules_load, vm_from_evidence)

FIXTURES = os.path.join(os.path.dirname(__file__), '..', '..', 'fixtures', 'kernel')


def fixture(name, binary=False):
    with open(os.path.join(FIXTURES, name), 'rb' if binary else 'r') as handle:
        return handle.read()


CONFIG = parse_kernel_config(fixture('proc_config_trimmed.txt'))


def test_parse_proc_modules():
    text = fixture('proc_modules_sample.txt') + 'garbage line\nshort 1\n\nbad-name x 0 - Live 0x0\n'
    assert parse_proc_modules(text) == ['br_netfilter', 'bridge', 'stp', 'llc', 'nf_conntrack', 'nf_defrag_ipv6',
                                        'virtio_net']


def test_parse_modules_builtin_normalises_dashes():
    text = fixture('modules_builtin_sample.txt') + 'kernel/drivers/net/ipvlan/ip-vlan.ko\nnot-a-module\n\n'
    assert parse_modules_builtin(text) == set(['overlay', 'tcp_cubic', 'virtio_net', 'sch_fq_codel',
                                               'crc32c_generic', 'ip_vlan'])


def test_parse_filesystems_real():
    names = parse_filesystems(fixture('proc_filesystems.txt'))
    assert 'overlay' in names and 'ext4' in names and 'cgroup2' in names
    assert 'nodev' not in names


def test_parse_kernel_config_real_trimmed():
    assert CONFIG['CONFIG_MODULES'] is None
    assert CONFIG['CONFIG_TCP_CONG_BBR'] == 'y'
    assert CONFIG['CONFIG_DEFAULT_TCP_CONG'] == 'bbr'
    assert CONFIG['CONFIG_NET_SCH_FQ'] is None
    assert 'CONFIG_NET_SCH_CAKE' not in CONFIG


def test_parse_kernel_config_ignores_malformed_lines():
    text = '# comment\nCONFIG_A=y\nCONFIG_B\n#CONFIG_C is not set\n# CONFIG_D is not set\nCONFIG_E=m\nCONFIG_\n'
    assert parse_kernel_config(text) == {'CONFIG_A': 'y', 'CONFIG_D': None, 'CONFIG_E': 'm'}


def test_config_symbols_accepts_both_spellings_and_no_config():
    assert config_symbols(CONFIG, ['NET_SCH_FQ', 'CONFIG_OVERLAY_FS', 'NET_SCH_CAKE']) == {
        'CONFIG_NET_SCH_FQ': None, 'CONFIG_OVERLAY_FS': 'y', 'CONFIG_NET_SCH_CAKE': None}
    assert config_symbols(None, ['NET_SCH_FQ']) is None


def test_parse_proc_swaps_real():
    assert parse_proc_swaps(fixture('proc_swaps_empty.txt')) == []
    assert parse_proc_swaps(fixture('proc_swaps_active.txt')) == [
        {'filename': '/tmp/pjk/swap file', 'type': 'file', 'size_kib': 16380, 'used_kib': 0, 'priority': -2},
        {'filename': '/tmp/pjk/swapfile2', 'type': 'file', 'size_kib': 8188, 'used_kib': 0, 'priority': 5},
    ]


def test_parse_proc_swaps_skips_malformed_and_truncated_lines():
    entries = parse_proc_swaps(fixture('proc_swaps_malformed.txt'))
    assert [e['filename'] for e in entries] == ['/dev/vdb2', '/dev/zram0']
    assert parse_proc_swaps('') == []
    assert parse_proc_swaps('Filename\tType\n/dev/vdb2 partition 20') == []


def test_parse_environ_real():
    assert parse_environ(fixture('proc1_environ_container_docker.bin', binary=True))['container'] == 'docker'
    env = parse_environ(fixture('proc1_environ_docker_systemd.bin', binary=True))
    assert 'container' not in env and env['HOME'] == '/root'
    assert parse_environ(b'') == {}
    assert parse_environ(b'A=1\0junk\0B=x=y') == {'A': '1', 'B': 'x=y'}


def test_parse_cpuinfo_flags_real():
    flags = parse_cpuinfo_flags(fixture('cpuinfo_flags.txt'))
    assert 'hypervisor' in flags and 'fpu' in flags
    assert parse_cpuinfo_flags('processor\t: 0\n') == set()


def test_mountinfo_host_proc_sys_is_rw():
    mount = mount_for('/proc/sys', parse_mountinfo(fixture('mountinfo_host.txt')))
    assert mount['mount_point'] == '/proc' and mount['fstype'] == 'proc'
    assert 'rw' in mount['mount_options']


def test_mountinfo_docker_proc_sys_is_ro():
    mount = mount_for('/proc/sys', parse_mountinfo(fixture('mountinfo_docker.txt')))
    assert mount['mount_point'] == '/proc/sys'
    assert 'ro' in mount['mount_options']


def test_parse_mountinfo_skips_truncated_lines_and_unescapes():
    mounts = parse_mountinfo('22 27 0:21 / /proc rw - proc\n30 1 0:5 / /mnt/a\\040b rw - tmpfs tmpfs rw\n')
    assert [m['mount_point'] for m in mounts] == ['/mnt/a b']
    assert mount_for('/proc/sys', mounts) is None


@pytest.mark.parametrize('kind, role', [
    ('docker', 'container'), ('podman', 'container'), ('systemd-nspawn', 'container'), ('kvm', 'vm'),
    ('qemu', 'vm'), ('none', 'none'), ('', 'none'), (None, 'none'),
])
def test_classify_virtualization(kind, role):
    assert classify_virtualization(kind) == role


def test_container_from_evidence():
    environ = parse_environ(fixture('proc1_environ_container_docker.bin', binary=True))
    assert container_from_evidence(False, False, environ, None) == 'docker'
    assert container_from_evidence(True, False, {}, None) == 'docker'
    assert container_from_evidence(False, True, {}, None) == 'podman'
    assert container_from_evidence(True, False, {}, 'systemd-nspawn\n') == 'systemd-nspawn'
    assert container_from_evidence(False, False, {'container': 'lxc'}, None) == 'lxc'
    assert container_from_evidence(False, False, {}, None) is None


def test_vm_from_evidence():
    flags = parse_cpuinfo_flags(fixture('cpuinfo_flags.txt'))
    assert vm_from_evidence('QEMU\n', 'Standard PC (Q35 + ICH9, 2009)\n', set(), '') == 'qemu'
    assert vm_from_evidence(None, 'KVM\n', set(), '') == 'kvm'
    assert vm_from_evidence(None, None, flags, 'tsc kvm-clock \n') == 'kvm'
    assert vm_from_evidence(None, None, flags, 'tsc hpet') == 'vm-other'
    assert vm_from_evidence('Dell Inc.', 'PowerEdge R650', set(['fpu']), 'tsc') is None


def test_builtin_evidence_without_module_support():
    filesystems = parse_filesystems(fixture('proc_filesystems.txt'))
    cc = fixture('tcp_available_congestion_control.txt').split()
    existing = set(['sys/module/overlay', 'proc/sys/net/bridge', 'sys/module/nf_conntrack',
                    'proc/sys/net/netfilter/nf_conntrack_max'])
    assert builtin_evidence('overlay', filesystems, existing, CONFIG, cc) == [
        'overlay is in /proc/filesystems', '/sys/module/overlay exists', 'CONFIG_OVERLAY_FS=y']
    assert builtin_evidence('br-netfilter', filesystems, existing, CONFIG, cc) == [
        '/proc/sys/net/bridge exists', 'CONFIG_BRIDGE_NETFILTER=y']
    assert builtin_evidence('tcp_bbr', filesystems, existing, None, cc) == ['bbr is in tcp_available_congestion_control']
    assert builtin_evidence('sch_fq', filesystems, existing, CONFIG, cc) == []
    assert builtin_evidence('geneve', filesystems, existing, None, cc) == []


def test_missing_reason():
    assert missing_reason('sch_fq', CONFIG, '/proc/config.gz') == (
        'kernel has no loadable-module support and sch_fq is not built in '
        '(CONFIG_NET_SCH_FQ is not set in /proc/config.gz)')
    assert missing_reason('ip_vs', {'CONFIG_IP_VS': 'm'}, '/boot/config-6.1.0') == (
        'kernel has no loadable-module support and ip_vs is not built in (CONFIG_IP_VS=m in /boot/config-6.1.0)')
    assert missing_reason('wireguard', None, None).endswith('(no sign of it in /proc or /sys, and no kernel config to check)')
    assert missing_reason('wireguard', CONFIG, '/proc/config.gz').endswith('no CONFIG symbol known for it)')


def test_render_modules_load():
    assert render_modules_load(['overlay', 'br_netfilter']) == (
        '# Managed by packetjungle.datapath (kernel_modules): local edits are overwritten.\noverlay\nbr_netfilter\n')


def test_plan_fstab_swap_off_real_container_fstab_and_idempotence():
    before = fixture('fstab_container_swap.txt')
    after, disabled = plan_fstab_swap_off(before)
    assert disabled == ['/swapfile none swap sw 0 0',
                        'UUID=2f3c9a4e-1b7d-4c55-9a0e-6f1d2b7c8e90 none swap sw,pri=10 0 0']
    assert after == ('# UNCONFIGURED FSTAB FOR BASE SYSTEM\n'
                     '# disabled by packetjungle.datapath: /swapfile none swap sw 0 0\n'
                     '# disabled by packetjungle.datapath: UUID=2f3c9a4e-1b7d-4c55-9a0e-6f1d2b7c8e90 none swap '
                     'sw,pri=10 0 0\n')
    assert plan_fstab_swap_off(after) == (after, [])


def test_plan_fstab_swap_off_keeps_tabs_escapes_and_other_lines():
    before = fixture('fstab_swapfiles.txt')
    after, disabled = plan_fstab_swap_off(before)
    assert disabled == ['/tmp/pjk/swap\\040file none swap sw 0 0', '/tmp/pjk/swapfile2\tnone\tswap\tsw,pri=5\t0\t0']
    assert after.splitlines()[:4] == before.splitlines()[:4]
    assert after.splitlines()[5] == FSTAB_MARKER + '/tmp/pjk/swapfile2\tnone\tswap\tsw,pri=5\t0\t0'
    assert len(after.splitlines()) == len(before.splitlines())


def test_plan_fstab_swap_off_edge_cases():
    text = ('/dev/vdb1 /swap ext4 defaults 0 2\n#/dev/vdc none swap sw 0 0\n  \n/dev/vdd none swap sw 0 0')
    after, disabled = plan_fstab_swap_off(text)
    assert disabled == ['/dev/vdd none swap sw 0 0']
    assert after.endswith(FSTAB_MARKER + '/dev/vdd none swap sw 0 0\n')
    assert after.startswith('/dev/vdb1 /swap ext4 defaults 0 2\n#/dev/vdc none swap sw 0 0\n')
    assert plan_fstab_swap_off(fixture('fstab_debian_unconfigured.txt'))[1] == []
    assert plan_fstab_swap_off('') == ('', [])


def test_parse_systemctl_units_real():
    assert parse_systemctl_units(fixture('systemctl_swap_units.txt')) == [
        {'unit': 'dev-zram0.swap', 'load': 'loaded', 'active': 'inactive', 'sub': 'dead',
         'description': 'Swap /dev/zram0'},
        {'unit': 'swapfile.swap', 'load': 'loaded', 'active': 'inactive', 'sub': 'dead',
         'description': 'Swap /swapfile'},
    ]
    masked = parse_systemctl_units(fixture('systemctl_swap_units_masked.txt'))
    assert [(u['unit'], u['load']) for u in masked] == [('dev-zram0.swap', 'masked'), ('swapfile.swap', 'masked')]


def test_parse_systemctl_units_bullet_and_malformed():
    text = u'\u25cf dev-vdb2.swap loaded failed failed /dev/vdb2\nnonsense\n\n0 loaded units listed.\nx.swap a\n'
    assert parse_systemctl_units(text) == [
        {'unit': 'dev-vdb2.swap', 'load': 'loaded', 'active': 'failed', 'sub': 'failed', 'description': '/dev/vdb2'}]


def test_qdisc_support_sources():
    assert qdisc_support('fq', 'pfifo_fast', False, CONFIG, '/proc/config.gz', False) == {
        'supported': False, 'source': 'CONFIG_NET_SCH_FQ is not set in /proc/config.gz'}
    assert qdisc_support('fq_codel', 'fq_codel', False, None, None, False) == {
        'supported': True, 'source': 'net.core.default_qdisc is fq_codel'}
    assert qdisc_support('fq', None, True, None, None, True)['source'] == '/sys/module/sch_fq exists'
    assert qdisc_support('fq', 'pfifo_fast', False, None, None, False)['supported'] is None
    assert qdisc_support('fq', 'pfifo_fast', False, {'CONFIG_NET_SCH_FQ': 'm'}, '/boot/config-x', True) == {
        'supported': True, 'source': 'CONFIG_NET_SCH_FQ=m in /boot/config-x'}


def test_kernel_view_reads_gzip_config_then_boot_config(tmp_path):
    (tmp_path / 'proc' / 'sys' / 'kernel').mkdir(parents=True)
    (tmp_path / 'proc' / 'sys' / 'kernel' / 'osrelease').write_text('6.1.0-28-amd64\n')
    (tmp_path / 'boot').mkdir()
    (tmp_path / 'boot' / 'config-6.1.0-28-amd64').write_text('CONFIG_MODULES=y\nCONFIG_NET_SCH_FQ=m\n')
    view = KernelView(str(tmp_path))
    assert view.kernel_release() == '6.1.0-28-amd64'
    assert view.kernel_config() == ({'CONFIG_MODULES': 'y', 'CONFIG_NET_SCH_FQ': 'm'}, '/boot/config-6.1.0-28-amd64')
    with gzip.open(str(tmp_path / 'proc' / 'config.gz'), 'wb') as handle:
        handle.write(fixture('proc_config_trimmed.txt').encode())
    config, source = view.kernel_config()
    assert source == '/proc/config.gz' and config['CONFIG_MODULES'] is None


def test_kernel_view_survives_a_truncated_config_gz(tmp_path):
    (tmp_path / 'proc').mkdir()
    data = gzip.compress(fixture('proc_config_trimmed.txt').encode())
    (tmp_path / 'proc' / 'config.gz').write_bytes(data[:len(data) // 2])
    view = KernelView(str(tmp_path))
    assert view.kernel_config() == (None, None)
    assert view.module_support() is False
    assert view.swaps() == [] and view.cc_available() == [] and view.read('proc/1/environ') is None
