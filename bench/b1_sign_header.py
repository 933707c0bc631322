"""B1 sign-header: ``federation.signatures.sign_request`` on a typical POST (2.3 KB body)
÷ raw RSA-2048 PKCS#1 v1.5 SHA-256 signatures of a same-size signing string."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from bench.harness import paired_rates
from bench.payloads import create_note_body, rsa_key
from bench.registry import Context, Measurement, benchmark
from federation.signatures import sign_request

INBOX = "https://remote.example/users/alice/inbox"
KEY_ID = "https://county.example/actors/1#main-key"


@benchmark("B1", title="sign-header", metric="header builds/s ÷ raw RSA-2048 sign/s", target=0.90, stretch=0.95)
def sign_header(ctx: Context) -> Measurement:
    key = rsa_key()
    body = create_note_body()
    headers = {"Content-Type": "application/activity+json", "User-Agent": "Redcloud/0.1"}
    sample = sign_request("POST", INBOX, headers, body, key_id=KEY_ID, private_key=key)
    # Baseline: the same amount of RSA work on a signing string of the same length.
    text = ("x" * (len(sample["Signature"]) // 2)).encode()
    pad, sha = padding.PKCS1v15(), hashes.SHA256()

    def subject() -> object:
        return sign_request("POST", INBOX, headers, body, key_id=KEY_ID, private_key=key)

    def baseline() -> object:
        return key.sign(text, pad, sha)

    subj, base = paired_rates(subject, baseline, ctx)
    return Measurement(
        subject=subj,
        baseline=base,
        subject_unit="builds/s",
        baseline_unit="signs/s",
        baseline_name="raw RSA-2048 sign (cryptography, key parsed once)",
        extra={"body_bytes": len(body), "scheme": "cavage"},
    )
