"""The generated parts of docs/ match the code they come from.

scripts/gen_docs.py builds each role's Inputs table from its argument spec and
defaults, one page per module from what ansible-doc renders, the filter page
and the docs index; --check writes nothing and names every stale file."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = os.path.join(ROOT, "scripts", "gen_docs.py")


def gen(root, *args):
    return subprocess.run([sys.executable, GEN, "--root", root] + list(args),
                          capture_output=True, text=True, check=False, timeout=120)


def test_docs_match_the_code():
    proc = gen(ROOT, "--check")
    assert proc.returncode == 0, "run `make docs`:\n" + proc.stdout + proc.stderr


def copy_collection(dest):
    for part in ("roles", "plugins", "docs", "meta"):
        if os.path.isdir(os.path.join(ROOT, part)):
            shutil.copytree(os.path.join(ROOT, part), os.path.join(dest, part),
                            ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(ROOT, "galaxy.yml"), dest)
    return str(dest)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_check_names_each_stale_file_and_a_run_fixes_them(tmp_path):
    root = copy_collection(tmp_path / "collection")
    # Start in sync whatever the checkout's state, so only the changes below count.
    assert gen(root).returncode == 0
    swap_off_page = read(os.path.join(root, "docs", "modules", "swap_off.md"))
    # A changed default, a new role without a page, a deleted module page and
    # the page of a module that no longer exists.
    defaults = os.path.join(root, "roles", "cilium", "defaults", "main.yml")
    write(defaults, read(defaults).replace("cilium_wait_timeout: 600", "cilium_wait_timeout: 900"))
    write(os.path.join(root, "roles", "probe_example", "meta", "argument_specs.yml"),
          "---\nargument_specs:\n  main:\n    short_description: An example role.\n    options:\n"
          "      probe_example_mode:\n        type: str\n        choices: [fast, slow]\n"
          "        description: How to probe, C(fast) or V(slow).\n"
          "      probe_example_targets:\n        type: list\n        elements: dict\n        default: []\n"
          "        description: What to probe.\n        options:\n"
          "          address:\n            type: str\n            required: true\n            description: Where.\n")
    write(os.path.join(root, "roles", "probe_example", "defaults", "main.yml"),
          "---\nprobe_example_mode: fast\nprobe_example_targets: []\n")
    os.remove(os.path.join(root, "docs", "modules", "swap_off.md"))
    old_page = read(os.path.join(root, "docs", "modules", "kernel_info.md")).replace("kernel_info", "old_info")
    write(os.path.join(root, "docs", "modules", "old_info.md"), old_page)
    handwritten = read(os.path.join(root, "docs", "cilium.md")).split("<!-- BEGIN GENERATED: inputs -->")[0]

    proc = gen(root, "--check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    stale = sorted(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("stale: "))
    assert stale == ["docs/README.md", "docs/cilium.md", "docs/modules/old_info.md",
                     "docs/modules/swap_off.md", "docs/probe_example.md"], proc.stdout

    proc = gen(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = gen(root, "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr

    cilium = read(os.path.join(root, "docs", "cilium.md"))
    assert cilium.startswith(handwritten)
    assert "| `cilium_wait_timeout` | int | `900` | no |" in cilium
    page = read(os.path.join(root, "docs", "probe_example.md"))
    assert page.startswith("# `packetjungle.datapath.probe_example`\n\nAn example role.\n")
    assert ("| `probe_example_mode` | str | `fast` | no | `fast`, `slow` | How to probe, `fast` or `slow`. |"
            in page)
    assert "| `probe_example_targets[].address` | str |  | yes |  | Where. |" in page
    assert "- [probe_example](probe_example.md): An example role." in read(os.path.join(root, "docs", "README.md"))
    assert not os.path.exists(os.path.join(root, "docs", "modules", "old_info.md"))
    assert read(os.path.join(root, "docs", "modules", "swap_off.md")) == swap_off_page
