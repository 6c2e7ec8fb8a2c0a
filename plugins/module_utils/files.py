# -*- coding: utf-8 -*-
# Copyright: (c) 2026, packetjungle.datapath contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading and atomically writing the small files the modules manage
(sysctl.d, modules-load.d, fstab, .link files, udev rules)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import tempfile


def read_text(path):
    """The file's content, or None when it does not exist or cannot be read."""
    try:
        with open(path, 'r') as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def write_atomic(module, path, content, mode=None):
    """Replace path with content through a temporary file in the same
    directory, so a reader never sees half a file. mode None keeps the mode of
    an existing file (atomic_move does) and gives a new one 0644."""
    directory = os.path.dirname(path) or '.'
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path))
    try:
        with os.fdopen(fd, 'w') as handle:
            handle.write(content)
        if mode is not None or not os.path.exists(path):
            os.chmod(tmp, 0o644 if mode is None else mode)
        module.atomic_move(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
