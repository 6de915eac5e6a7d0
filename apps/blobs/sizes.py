"""The only sizes an encrypted file may have (web/README.md, "File blobs").

The client pads the plaintext to a bucket and encrypts it with libsodium's
crypto_secretstream_xchacha20poly1305 in 64 KiB plaintext chunks: a 24-byte header,
then every chunk grows by 17 bytes (1 tag byte + 16 MAC bytes). Accepting exactly
these seven totals means a client bug can never store a blob whose size gives away
the file's real length.
"""

KIB = 1024
MIB = 1024 * KIB

BUCKETS = (32 * KIB, 128 * KIB, 512 * KIB, 2 * MIB, 8 * MIB, 32 * MIB, 64 * MIB)
SECRETSTREAM_HEADER_BYTES = 24
SECRETSTREAM_CHUNK_OVERHEAD = 17
PLAINTEXT_CHUNK = 64 * KIB


def encrypted_size(bucket: int) -> int:
    """Bytes of a secretstream ciphertext of `bucket` plaintext bytes."""
    chunks = -(-bucket // PLAINTEXT_CHUNK)
    return SECRETSTREAM_HEADER_BYTES + bucket + SECRETSTREAM_CHUNK_OVERHEAD * chunks


ACCEPTED_SIZES = {encrypted_size(bucket): bucket for bucket in BUCKETS}
