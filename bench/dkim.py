"""Benchmark DKIM signing: what it adds to each message, RSA 2048 against Ed25519 against unsigned.

    python bench/dkim.py [--n 300] [--runs 5] [--threads 4]

Composes the example issue once, then builds ``--n`` messages with
``MessageFactory.build`` (what the SMTP and outbox backends call per
recipient) without signing, signed with a fresh RSA 2048 key and with a
fresh Ed25519 key; prints the median milliseconds per message over
``--runs`` runs and the cost signing adds. ``rsa-dkimpy`` is the alternative
side by side: the same RSA key signed by dkimpy alone (its RSA step in pure
Python, what delivery/dkim.py did before it handed that step to OpenSSL). Then the same with ``--threads``
threads building at once, as the SMTP backend's connections do, to show
how much of the signing runs in parallel (dkimpy's own RSA is pure Python
and holds the GIL; OpenSSL releases it). Needs the dev extras (``cryptography`` makes the keys).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the library it measures: keep its folder off the path so `import dkim` finds dkimpy.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))


def make_keys(folder: Path) -> dict[str, Path]:
    """A fresh RSA 2048 and Ed25519 key as PKCS#8 PEM files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    keys = {}
    for kind, key in (("rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                      ("ed25519", ed25519.Ed25519PrivateKey.generate())):
        path = folder / f"{kind}.pem"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        keys[kind] = path
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="messages per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    from newsletter.compose import compose_issue
    from newsletter.delivery.base import Recipient
    from newsletter.delivery.message import MessageFactory
    from newsletter.settings import load_settings

    folder = Path(tempfile.mkdtemp(prefix="bench-dkim-"))
    keys = make_keys(folder)
    base = load_settings({}).with_overrides(newsletter_secret_key="bench-secret-key-0123456789abcdef")
    result = compose_issue(ROOT / "issues" / "2026-11-example.md", base)
    recipients = [Recipient(i, f"reader{i}@example.org", f"Reader {i}", f"https://news.example.org/u/{i}",
                            "https://news.example.org/web") for i in range(args.n)]
    cases = {
        "unsigned": base,
        "rsa-2048": base.with_overrides(newsletter_dkim_selector="bench", newsletter_dkim_private_key=str(keys["rsa"])),
        "ed25519": base.with_overrides(newsletter_dkim_selector="bench",
                                       newsletter_dkim_private_key=str(keys["ed25519"])),
    }
    def dkimpy_alone(factory: MessageFactory) -> MessageFactory:
        import dkim

        from newsletter.delivery.dkim import SIGNED_HEADERS

        signer = factory.signer
        assert signer is not None

        class DkimpyAlone:
            key = signer.key

            def sign(self, message: bytes) -> bytes:
                return dkim.sign(message, signer.selector.encode(), signer.domain.encode(), signer.key.material,
                                 canonicalize=(b"relaxed", b"relaxed"),
                                 include_headers=[h.encode() for h in SIGNED_HEADERS]) + message

        factory.signer = DkimpyAlone()  # type: ignore[assignment]
        return factory

    def factory_for(name: str) -> MessageFactory:
        made = MessageFactory(result, cases[name], send_id=1, list_name="news")  # the key is read here, once
        return dkimpy_alone(made) if name == "rsa-dkimpy" else made

    cases["rsa-dkimpy"] = cases["rsa-2048"]
    size = len(MessageFactory(result, base, send_id=1, list_name="news").build(recipients[0])[1])
    print(f"{args.n} messages of {size / 1024:.1f} KB per run, {args.runs} runs, medians")
    serial: dict[str, float] = {}
    for name in cases:
        times = []
        for _ in range(args.runs):
            factory = factory_for(name)
            start = time.perf_counter()
            for recipient in recipients:
                factory.build(recipient)
            times.append((time.perf_counter() - start) / args.n * 1000)
        serial[name] = statistics.median(times)
        added = f"  (+{serial[name] - serial['unsigned']:.3f} ms for signing)" if name != "unsigned" else ""
        print(f"  {name:10} {serial[name]:7.3f} ms/message  {1000 / serial[name]:8.0f} messages/s, one thread{added}")
    print(f"{args.threads} threads building at once (as the SMTP connections do):")
    for name in cases:
        rates = []
        for _ in range(args.runs):
            factory = factory_for(name)
            start = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                list(pool.map(factory.build, recipients))
            rates.append(args.n / (time.perf_counter() - start))
        rate = statistics.median(rates)
        print(f"  {name:10} {rate:8.0f} messages/s  ({rate * serial[name] / 1000:.2f}x one thread)")


if __name__ == "__main__":
    main()
