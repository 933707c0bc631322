"""B2 verify-header: ``parse_signature`` + ``verify_signature`` of a signed 2.3 KB POST with
the key parsed (cache warm) ÷ raw RSA-2048 verifications of the same signing string."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bench.harness import paired_rates, rate
from bench.payloads import create_note_body, rsa_key
from bench.registry import Context, Measurement, benchmark
from federation.signatures import parse_signature, sign_request, verify_signature

INBOX = "https://hub.example/inbox"
KEY_ID = "https://county.example/actors/1#main-key"


@benchmark("B2", title="verify-header", metric="verifications/s ÷ raw RSA verify/s", target=0.50, stretch=0.60)
def verify_header(ctx: Context) -> Measurement:
    key = rsa_key()
    public = key.public_key()
    body = create_note_body()
    now = datetime.now(UTC)
    signed_headers = {}
    for scheme in ("cavage", "rfc9421"):
        h = sign_request(
            "POST",
            INBOX,
            {"Content-Type": "application/activity+json"},
            body,
            key_id=KEY_ID,
            private_key=key,
            scheme=scheme,
            now=now,
        )
        # What Django's request.headers would carry as well.
        h.update(
            {
                "Content-Length": str(len(body)),
                "User-Agent": "Mastodon/4.3",
                "Accept-Encoding": "gzip",
                "Connection": "keep-alive",
            }
        )
        signed_headers[scheme] = h
    pad, sha = padding.PKCS1v15(), hashes.SHA256()

    def check(scheme: str) -> None:
        signed = parse_signature("POST", "/inbox", signed_headers[scheme], body, expected_host="hub.example", now=now)
        verify_signature(signed, public)

    reference = parse_signature("POST", "/inbox", signed_headers["cavage"], body, expected_host="hub.example", now=now)

    def baseline() -> None:
        public.verify(reference.signature, reference.signing_string, pad, sha)

    subj, base = paired_rates(lambda: check("cavage"), baseline, ctx)
    rfc = rate(lambda: check("rfc9421"), ctx.min_time)
    return Measurement(
        subject=subj,
        baseline=base,
        subject_unit="verifications/s",
        baseline_unit="verifies/s",
        baseline_name="raw RSA-2048 verify (cryptography, key parsed once)",
        notes=[f"RFC 9421 variant, single run: {rfc:,.0f}/s (ratio {rfc / sorted(base)[len(base) // 2]:.2f})"],
        extra={"body_bytes": len(body), "scheme": "cavage", "rfc9421_single_run_per_s": rfc},
    )
