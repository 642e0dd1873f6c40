"""content_version is 64-bit FNV-1a of the UTF-8 bytes, as the Rust host computes it."""

from pipeline_checkpoint import content_version


def test_content_version_matches_the_fnv1a_64_reference_vectors():
    assert content_version("") == 0xCBF29CE484222325
    assert content_version("a") == 0xAF63DC4C8601EC8C
    assert content_version("foobar") == 0x85944171F73967E8


def test_content_version_hashes_utf8_bytes():
    assert content_version("é") == content_version("\u00e9")
    assert content_version("é") != content_version("e")
