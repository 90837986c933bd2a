"""xmppcore/compression.py: the zlib codec of XEP-0138, bytes in / bytes out."""

from __future__ import annotations

import zlib

import pytest

from xmppcore.compression import ProcessingFailed, ZlibCodec
from xmppcore.errors import StreamError


def test_each_deflated_batch_is_readable_at_once() -> None:
    """§8: a sync flush per write batch: the peer inflates every batch without waiting."""
    codec = ZlibCodec()
    peer = zlib.decompressobj()
    for batch in (b"<message><body>one</body></message>", b"<presence/>" * 50):
        out = codec.deflate(batch)
        assert out.endswith(b"\x00\x00\xff\xff")  # the empty stored block of Z_SYNC_FLUSH
        assert peer.decompress(out) == batch


def test_inflate_streams_across_chunks() -> None:
    codec = ZlibCodec()
    sender = zlib.compressobj()
    data = sender.compress(b"<iq type='get' id='1'/>" * 20) + sender.flush(zlib.Z_SYNC_FLUSH)
    got = b"".join(codec.inflate(data[i:i + 7]) for i in range(0, len(data), 7))
    assert got == b"<iq type='get' id='1'/>" * 20
    assert codec.bytes_in == len(data) and codec.bytes_inflated == len(got)


def test_a_bomb_is_refused_without_inflating_it() -> None:
    codec = ZlibCodec(max_inflate=4096)
    bomb = zlib.compress(b"\0" * (100 << 20))  # 100 MiB in about 100 KiB
    with pytest.raises(StreamError) as err:
        codec.inflate(bomb[:20000])
    assert err.value.condition == "policy-violation"


def test_exactly_the_limit_passes() -> None:
    codec = ZlibCodec(max_inflate=4096)
    sender = zlib.compressobj()
    data = sender.compress(b"a" * 4096) + sender.flush(zlib.Z_SYNC_FLUSH)
    assert codec.inflate(data) == b"a" * 4096


def test_corrupt_and_finished_streams_are_processing_failed() -> None:
    with pytest.raises(ProcessingFailed) as err:
        ZlibCodec().inflate(b"\xff" * 32)
    el = err.value.to_element()
    assert err.value.condition == "undefined-condition"
    failure = el.find("{http://jabber.org/protocol/compress}failure")
    assert [c.tag for c in failure] == ["{http://jabber.org/protocol/compress}processing-failed"]
    with pytest.raises(ProcessingFailed):
        ZlibCodec().inflate(zlib.compress(b"<r/>"))  # Z_FINISH: the zlib stream ended
