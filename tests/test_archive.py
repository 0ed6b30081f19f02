"""Safe zip extraction (cardiolab.data.archive): zip slip, links, bombs and broken zips."""
import stat
import zipfile

import pytest

from cardiolab.data import CineLoadError
from cardiolab.data import archive
from cardiolab.data.archive import MAX_FILES, MAX_TOTAL_BYTES, extract_zip


def make_zip(path, entries):
    """``entries``: name -> bytes, or a ready `zipfile.ZipInfo` -> bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
    return path


def test_limits_are_documented_module_constants():
    assert MAX_TOTAL_BYTES == 2 * 1024**3 and MAX_FILES == 20_000


def test_a_clean_zip_is_extracted(tmp_path):
    source = make_zip(tmp_path / "ok.zip", {"exam/a.dcm": b"a" * 100, "exam/sub/b.dcm": b"b" * 50, "exam/empty/": b""})
    dest = extract_zip(source, tmp_path / "out")
    assert dest == (tmp_path / "out").resolve()
    assert (dest / "exam" / "a.dcm").read_bytes() == b"a" * 100
    assert (dest / "exam" / "sub" / "b.dcm").read_bytes() == b"b" * 50
    assert (dest / "exam" / "empty").is_dir()


@pytest.mark.parametrize(
    "name, problem",
    [
        ("../evil.txt", "'..' component"),
        ("exam/../../evil.txt", "'..' component"),
        ("..\\evil.txt", "'..' component"),
        ("/tmp/evil.txt", "absolute path"),
        ("\\evil.txt", "absolute path"),
        ("C:/evil.txt", "drive letter"),
    ],
)
def test_escaping_entries_are_refused(tmp_path, name, problem):
    source = make_zip(tmp_path / "bad.zip", {"exam/ok.dcm": b"fine", name: b"payload"})
    dest = tmp_path / "deep" / "out"
    with pytest.raises(CineLoadError, match="bad.zip") as caught:
        extract_zip(source, dest)
    assert repr(name) in str(caught.value) and problem in str(caught.value)
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert not (dest / "exam" / "ok.dcm").exists()  # names are checked before anything is written


def test_symlink_entries_are_refused(tmp_path):
    link = zipfile.ZipInfo("exam/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    source = make_zip(tmp_path / "link.zip", {link: b"/etc/passwd"})
    with pytest.raises(CineLoadError, match=r"link.zip: entry 'exam/link' is a symbolic link"):
        extract_zip(source, tmp_path / "out")


def test_declared_size_over_the_cap_is_refused(tmp_path):
    source = make_zip(tmp_path / "big.zip", {"a.dcm": b"0" * 600, "b.dcm": b"0" * 600})
    with pytest.raises(CineLoadError, match=r"big.zip: entry 'b.dcm' .*1200 bytes, over the limit of 1000"):
        extract_zip(source, tmp_path / "out", max_total_bytes=1000)
    assert not (tmp_path / "out" / "a.dcm").exists()
    extract_zip(source, tmp_path / "out2", max_total_bytes=1200)  # exactly at the cap is fine


def test_the_cap_holds_while_streaming_when_headers_lie(tmp_path, monkeypatch):
    source = make_zip(tmp_path / "bomb.zip", {"a.dcm": b"0" * 5000})
    monkeypatch.setattr(archive, "_check_totals", lambda *args: None)  # as if the header said 0 bytes
    with pytest.raises(CineLoadError, match=r"bomb.zip: entry 'a.dcm' decompresses past the limit of 1000"):
        extract_zip(source, tmp_path / "out", max_total_bytes=1000)
    assert not (tmp_path / "out" / "a.dcm").exists()  # the partial file is removed


def test_a_header_understating_the_size_is_caught(tmp_path):
    """Patch the central directory to declare 10 bytes for a 5000-byte entry."""
    source = tmp_path / "liar.zip"
    with zipfile.ZipFile(source, "w", zipfile.ZIP_STORED) as zipped:
        zipped.writestr("a.dcm", b"x" * 5000)
    raw = bytearray(source.read_bytes())
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (10).to_bytes(4, "little")  # uncompressed size field
    source.write_bytes(bytes(raw))
    with pytest.raises(CineLoadError, match=r"liar.zip: entry 'a.dcm' cannot be extracted"):
        extract_zip(source, tmp_path / "out", max_total_bytes=1000)


def test_too_many_files_are_refused(tmp_path):
    source = make_zip(tmp_path / "many.zip", {f"f{i}.dcm": b"x" for i in range(4)})
    with pytest.raises(CineLoadError, match=r"many.zip: holds 4 files, more than the limit of 3 \(entry 'f3.dcm'"):
        extract_zip(source, tmp_path / "out", max_files=3)


def test_not_a_zip_and_a_corrupt_zip_are_refused(tmp_path):
    text = tmp_path / "plain.zip"
    text.write_text("just text")
    with pytest.raises(CineLoadError, match="plain.zip: not a zip file"):
        extract_zip(text, tmp_path / "out")
    good = make_zip(tmp_path / "cut.zip", {"a.dcm": bytes(range(256)) * 40})
    raw = good.read_bytes()
    good.write_bytes(raw[: len(raw) // 2])  # the central directory is gone
    with pytest.raises(CineLoadError, match="cut.zip: not a zip file"):
        extract_zip(good, tmp_path / "out")


def test_damaged_data_is_refused(tmp_path):
    source = make_zip(tmp_path / "flip.zip", {"a.dcm": bytes(range(256)) * 40})
    raw = bytearray(source.read_bytes())
    raw[60] ^= 0xFF  # inside the compressed stream of the only entry
    source.write_bytes(bytes(raw))
    with pytest.raises(CineLoadError, match=r"flip.zip: entry 'a.dcm' cannot be extracted"):
        extract_zip(source, tmp_path / "out")


def test_arguments_are_validated(tmp_path):
    with pytest.raises(ValueError, match="max_total_bytes"):
        extract_zip(tmp_path / "x.zip", tmp_path, max_total_bytes=0)
    with pytest.raises(CineLoadError, match="no such file"):
        extract_zip(tmp_path / "missing.zip", tmp_path / "out")
