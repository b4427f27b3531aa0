"""Fabric from source: the commit check, and builds that never leave half a cache behind.

The builds here run a stand-in `go` (a script on PATH) so that failures and interruptions
happen on cue; the real build from the real archive runs in every integration session.
"""

from __future__ import annotations

import io
import os
import stat
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from gridledger.network import binaries
from gridledger.network.binaries import BinaryError, ensure_all, locate
from gridledger.network.fabric_source import (
    COMMIT_MARKER,
    FABRIC_COMMIT,
    FABRIC_TOOLS,
    SourceError,
    build_from_source,
    inspect_source,
)
from gridledger.network.go import GoError, find_go

# Every Fabric tool, then the ccaas builder's three.
STEPS = len(FABRIC_TOOLS) + 3
OTHER_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _fabric_tree(root: Path, commit: str | None = FABRIC_COMMIT) -> Path:
    """The files a Fabric source tree must have (contents do not matter to the fake go)."""
    files = {
        "go.mod": "module github.com/hyperledger/fabric\n\ngo 1.26.4\n",
        "vendor/modules.txt": "",
        "ccaas_builder/go.mod": "module github.com/hyperledger/fabric/ccaas_builder\n",
        "sampleconfig/core.yaml": "peer: {}\n",
        "sampleconfig/orderer.yaml": "General: {}\n",
    }
    for tool in FABRIC_TOOLS:
        files[f"cmd/{tool}/main.go"] = "package main\n"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    if commit:
        (root / COMMIT_MARKER).write_text(commit + "\n")
    return root


def _archive(path: Path, commit: str | None, tree: Path | None = None) -> Path:
    """A .tar.gz shaped like `git archive` output: the commit in the pax global header."""
    headers = {"comment": commit} if commit else {}
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT, pax_headers=headers) as tar:
        if tree is not None:
            tar.add(tree, arcname="fabric-3.1.5")
        else:
            data = b"module github.com/hyperledger/fabric\n"
            info = tarfile.TarInfo("fabric-3.1.5/go.mod")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A `go` on PATH that builds a script per tool; FAIL_AT names a tool to fail on."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    go = bin_dir / "go"
    go.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys
        args = sys.argv[1:]
        if args[:1] == ["env"]:
            print(json.dumps({{"GOVERSION": os.environ.get("FAKE_GO_VERSION", "go1.26.8"),
                              "CGO_ENABLED": "1", "CC": "sh"}}))
            sys.exit(0)
        out = args[args.index("-o") + 1]
        tool = os.path.basename(out)
        if tool == os.environ.get("FAIL_AT"):
            print("cmd/" + tool + ": undefined: somethingBroken", file=sys.stderr)
            sys.exit(1)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as fh:
            fh.write("#!/bin/sh\\necho ' Version: 3.1.5'\\n")
        os.chmod(out, 0o755)
    """))
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("GRIDLEDGER_CACHE", str(tmp_path / "cache"))
    for var in ("GRIDLEDGER_FABRIC_BIN", "GRIDLEDGER_CCAAS_BUILDER", "GRIDLEDGER_FABRIC_SOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(binaries, "OPT_CCAAS_BUILDER", tmp_path / "no-opt")
    return find_go()


def _cache_entries(tmp_path: Path) -> list[str]:
    cache = tmp_path / "cache"
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


# -- the commit check ---------------------------------------------------------------------


def test_an_archive_at_another_commit_is_refused_naming_the_commit_found(tmp_path):
    archive = _archive(tmp_path / "fabric.tar.gz", OTHER_COMMIT)
    with pytest.raises(SourceError, match=OTHER_COMMIT) as exc:
        inspect_source(archive)
    assert FABRIC_COMMIT in str(exc.value)


def test_an_archive_without_a_commit_in_its_pax_header_is_refused(tmp_path):
    with pytest.raises(SourceError, match="no commit ID in its pax header"):
        inspect_source(_archive(tmp_path / "plain.tar.gz", None))


def test_an_archive_at_the_pinned_commit_is_accepted(tmp_path):
    source = inspect_source(_archive(tmp_path / "fabric.tar.gz", FABRIC_COMMIT))
    assert (source.kind, source.commit) == ("archive", FABRIC_COMMIT)


def test_a_file_that_is_not_a_tar_archive_is_refused(tmp_path):
    junk = tmp_path / "fabric.tar.gz"
    junk.write_bytes(b"this is not gzip")
    with pytest.raises(SourceError, match="not a readable tar archive"):
        inspect_source(junk)


def test_a_missing_source_is_refused_with_its_path(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        inspect_source(tmp_path / "nowhere.tar.gz")


def test_a_tree_without_the_marker_is_refused(tmp_path):
    tree = _fabric_tree(tmp_path / "fabric", commit=None)
    with pytest.raises(SourceError, match=f"without a {COMMIT_MARKER} marker"):
        inspect_source(tree)


def test_a_tree_whose_marker_names_another_commit_is_refused(tmp_path):
    tree = _fabric_tree(tmp_path / "fabric", commit=OTHER_COMMIT)
    with pytest.raises(SourceError, match=OTHER_COMMIT):
        inspect_source(tree)


def test_a_marked_tree_that_is_not_fabric_is_refused(tmp_path):
    tree = tmp_path / "other"
    tree.mkdir()
    (tree / COMMIT_MARKER).write_text(FABRIC_COMMIT)
    (tree / "go.mod").write_text("module example.com/other\n")
    with pytest.raises(SourceError, match="not Fabric's source"):
        inspect_source(tree)


def test_a_tree_without_vendor_is_refused(tmp_path):
    tree = _fabric_tree(tmp_path / "fabric")
    (tree / "vendor" / "modules.txt").unlink()
    with pytest.raises(SourceError, match=r"vendor/modules\.txt"):
        inspect_source(tree)


# -- builds ------------------------------------------------------------------------------


def test_a_build_from_an_archive_assembles_every_tool_and_records_its_source(tmp_path, fake_go,
                                                                          monkeypatch):
    tree = _fabric_tree(tmp_path / "src")
    archive = _archive(tmp_path / "fabric.tar.gz", FABRIC_COMMIT, tree)
    said: list[str] = []
    final = build_from_source(inspect_source(archive), tmp_path / "cache" / "fabric-3.1.5",
                              fake_go, said.append)
    for tool in FABRIC_TOOLS:
        assert os.access(final / "bin" / tool, os.X_OK)
    for tool in ("detect", "build", "release"):
        assert os.access(final / "ccaas_builder" / "bin" / tool, os.X_OK)
    assert (final / "sampleconfig" / "core.yaml").is_file()
    assert any(f"[{STEPS}/{STEPS}] release done" in line for line in said), said
    # The unpacked source is scratch: only the build stays.
    assert _cache_entries(tmp_path) == ["fabric-3.1.5"]
    monkeypatch.setenv("GRIDLEDGER_FABRIC_SOURCE", str(archive))
    fabric = next(loc for loc in locate() if loc.name == "fabric")
    assert (fabric.origin, fabric.version) == ("cache", "3.1.5")
    assert str(archive) in fabric.detail


def test_a_failed_build_leaves_no_tool_in_the_cache(tmp_path, fake_go, monkeypatch):
    monkeypatch.setenv("FAIL_AT", "osnadmin")
    tree = _fabric_tree(tmp_path / "src")
    with pytest.raises(GoError, match="undefined: somethingBroken"):
        build_from_source(inspect_source(tree), tmp_path / "cache" / "fabric-3.1.5",
                          fake_go, lambda _: None)
    assert _cache_entries(tmp_path) == []
    assert not next(loc for loc in locate() if loc.name == "fabric").found


def test_an_interrupted_build_leaves_no_tool_in_the_cache(tmp_path, fake_go):
    tree = _fabric_tree(tmp_path / "src")

    def interrupt_at_the_third_tool(line: str) -> None:
        if line.startswith(f"[3/{STEPS}]"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_from_source(inspect_source(tree), tmp_path / "cache" / "fabric-3.1.5",
                          fake_go, interrupt_at_the_third_tool)
    assert _cache_entries(tmp_path) == []


def test_a_killed_builds_partial_directory_is_never_taken_for_a_build(tmp_path, fake_go,
                                                                      monkeypatch):
    # What a kill -9 leaves: tools in fabric-3.1.5.partial, and no BUILD.json anywhere.
    partial = tmp_path / "cache" / "fabric-3.1.5.partial"
    for tool in FABRIC_TOOLS:
        (partial / "bin").mkdir(parents=True, exist_ok=True)
        (partial / "bin" / tool).write_text("#!/bin/sh\necho ' Version: 3.1.5'\n")
        (partial / "bin" / tool).chmod(0o755)
    # ... or the same files already renamed but without the record that is written last.
    (tmp_path / "cache" / "fabric-3.1.5").mkdir()
    os.replace(partial / "bin", tmp_path / "cache" / "fabric-3.1.5" / "bin")
    assert not next(loc for loc in locate() if loc.name == "fabric").found
    monkeypatch.setenv("GRIDLEDGER_FABRIC_SOURCE", str(_fabric_tree(tmp_path / "src")))
    monkeypatch.setenv("GRIDLEDGER_FABRIC_CA_BIN", str(_fake_ca(tmp_path)))
    bins = ensure_all(lambda _: None)
    assert bins.bin_dir == tmp_path / "cache" / "fabric-3.1.5" / "bin"
    assert _cache_entries(tmp_path) == [".build.lock", "fabric-3.1.5"]


def _fake_ca(tmp_path: Path) -> Path:
    ca = tmp_path / "ca-bin"
    ca.mkdir()
    for tool in ("fabric-ca-server", "fabric-ca-client"):
        (ca / tool).write_text("#!/bin/sh\necho 'Version: 1.5.21'\n")
        (ca / tool).chmod(0o755)
    return ca


def test_without_a_source_up_says_where_to_get_one(tmp_path, fake_go, monkeypatch):
    monkeypatch.setenv("GRIDLEDGER_FABRIC_CA_BIN", str(_fake_ca(tmp_path)))
    with pytest.raises(BinaryError, match="GRIDLEDGER_FABRIC_SOURCE") as exc:
        ensure_all(lambda _: None)
    assert "github.com/hyperledger/fabric/archive/" + FABRIC_COMMIT in str(exc.value)


def test_a_wrong_archive_stops_up_before_any_build(tmp_path, fake_go, monkeypatch):
    monkeypatch.setenv("GRIDLEDGER_FABRIC_CA_BIN", str(_fake_ca(tmp_path)))
    archive = _archive(tmp_path / "fabric.tar.gz", OTHER_COMMIT)
    monkeypatch.setenv("GRIDLEDGER_FABRIC_SOURCE", str(archive))
    with pytest.raises(BinaryError, match=OTHER_COMMIT):
        ensure_all(lambda _: None)
    assert _cache_entries(tmp_path) == [".build.lock"]


def test_too_old_a_go_is_named_with_the_version_needed(fake_go, monkeypatch):
    monkeypatch.setenv("FAKE_GO_VERSION", "go1.22.1")
    with pytest.raises(GoError, match=r"Go 1\.26\.4 or newer .* go1\.22\.1"):
        find_go()


def test_no_go_at_all_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GoError, match="no `go` on PATH"):
        find_go()
