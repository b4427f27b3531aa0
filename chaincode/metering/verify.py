"""VerifyMeterChain: walk a meter's readings and check that the ledger still holds what
its meter signed.

A hash chain alone proves nothing against whoever can write the store it lives in: an
operator who edits its peer's private state database (halving every ``importWh``,
say) can recompute every link and the head. What the operator cannot recompute is the
meter's signature. So each reading is checked for

- its place: the record of seq n exists, names seq n of this meter (its canonical bytes
  too: a genuine reading moved to another place is caught), and links to its
  predecessor's recomputed hash;
- its hash: recomputed from the canonical bytes;
- its signature: over the canonical bytes, with the key the meter's private record says
  was in force from that seq on (``keys``: every key with the seq it took effect; the
  public record's ``keyHistory`` must say the same);

and the head must end the chain (its seq, hash and registers). The walk reads the
records by key, ``CHUNK`` at a time (one GET_STATE_MULTIPLE each), from 1 to the head's
seq: never a range query, so never the peer's silent cut at ``totalQueryLimit``. Answers
``{"ok": true, "seq": head}`` or ``{"ok": false, "seq", "reason", "expected", "found"}``
naming the first broken reading.
"""

from __future__ import annotations

from typing import Any

from gridledger.formats.errors import FormatError
from gridledger.formats.reading import decode_signature, verify_signature

from ..common.overlay import Overlay, load_json
from ..shim import ChaincodeError
from . import meters
from .chain import GENESIS_HASH, link_hash
from .readings import reading_key

CHUNK = 500


def _broken(seq: int, reason: str, expected: Any, found: Any) -> dict[str, Any]:
    return {"ok": False, "seq": seq, "reason": reason, "expected": expected, "found": found}


def _public_keys(device: dict[str, Any]) -> list[tuple[int, str, str]]:
    """The public key history as (fromSeq, PEM, curve), the last entry per fromSeq."""
    by_seq: dict[int, tuple[int, str, str]] = {}
    for entry in device.get("keyHistory", []):
        by_seq[entry["fromSeq"]] = (entry["fromSeq"], entry.get("publicKeyPem", ""),
                                    entry["curve"])
    return [by_seq[s] for s in sorted(by_seq)]


def _json_object(raw: bytes) -> dict[str, Any] | None:
    """A JSON object, or None for anything else (an edited store may hold anything)."""
    try:
        value = load_json(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _signed(record: dict[str, Any], canonical: bytes, key: dict[str, Any]) -> bool:
    """Whether the record's signature verifies (a malformed signature or key does not)."""
    try:
        signature = decode_signature(record.get("signature"))
        return verify_signature(key["publicKeyPem"], key["curve"], canonical, signature)
    except FormatError:
        return False


def _check(meter_id: str, seq: int, raw: bytes | None, previous: str,
           key: dict[str, Any]) -> tuple[dict[str, Any] | None, str, dict[str, Any] | None]:
    """(broken or None, this reading's hash, its reading object) for one record."""
    if raw is None:
        return _broken(seq, "missing reading", seq, None), previous, None
    record = _json_object(raw)
    if record is None:
        return _broken(seq, "record unreadable", seq, None), previous, None
    if record.get("seq") != seq or record.get("meterId") != meter_id:
        return (_broken(seq, "record out of place", seq, record.get("seq")), previous, None)
    if record.get("prevHash") != previous:
        return (_broken(seq, "previous hash differs", previous, record.get("prevHash")),
                previous, None)
    if not isinstance(record.get("canonical"), str):
        return _broken(seq, "interval detail missing", record.get("hash"), None), previous, None
    canonical = record["canonical"].encode("utf-8")
    recomputed = link_hash(previous, canonical)
    if recomputed != record.get("hash"):
        return _broken(seq, "hash differs", recomputed, record.get("hash")), previous, None
    reading = _json_object(canonical)
    if reading is None or reading.get("seq") != seq or reading.get("meterId") != meter_id:
        return (_broken(seq, "signed reading out of place", seq,
                        (reading or {}).get("seq")), previous, None)
    if not _signed(record, canonical, key):
        return (_broken(seq, "bad signature: the signed bytes are not what the meter signed",
                        meters.key_fingerprint(key["publicKeyPem"]), None), previous, None)
    return None, recomputed, reading


def verify_chain(ov: Overlay, meter_id: str) -> dict[str, Any]:
    """Walk the meter's chain (module docstring); on a Utility or Regulator peer."""
    head = meters.get_head(ov, meter_id)
    info = ov.get_json(meters.info_key(meter_id))
    if info is None:
        raise ChaincodeError(f"meter {meter_id} has no private record on this peer", 404)
    device = meters.get_device(ov, meter_id)
    private_keys = [(k["fromSeq"], k["publicKeyPem"], k["curve"]) for k in info["keys"]]
    if _public_keys(device) != private_keys:
        first = next((a[0] for a, b in zip(_public_keys(device), private_keys, strict=False)
                      if a != b), min(len(private_keys), len(_public_keys(device))) + 1)
        return _broken(first, "key history differs between the public and the private "
                       "record", len(private_keys), len(device.get("keyHistory", [])))
    previous, last = GENESIS_HASH, None
    for first in range(1, head["seq"] + 1, CHUNK):
        seqs = range(first, min(first + CHUNK, head["seq"] + 1))
        raws = ov.get_many([reading_key(meter_id, s) for s in seqs])
        for seq, raw in zip(seqs, raws, strict=True):
            broken, previous, reading = _check(meter_id, seq, raw, previous,
                                               meters.key_at(info, seq))
            if broken is not None:
                return broken
            last = reading
    if previous != head["hash"]:
        return _broken(head["seq"], "head hash differs", previous, head["hash"])
    if last is not None:
        for register in ("importWh", "exportWh"):
            if last[register] != head[register]:
                return _broken(head["seq"], f"head {register} differs from the last reading",
                               last[register], head[register])
    return {"ok": True, "seq": head["seq"]}
