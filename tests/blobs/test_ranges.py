import os

import pytest

from tests.blobs.conftest import MEDIUM, body, download, upload
from tests.conftest import make_chat

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(make_account):
    alice = make_account()
    chat = make_chat(alice, "group")
    data = os.urandom(MEDIUM)
    return alice, upload(alice, chat["id"], data), data


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # first bytes
        ("bytes=1048000-1049999", 1_048_000, 1_049_999),  # middle, across a chunk boundary
        (f"bytes={MEDIUM - 100}-{MEDIUM - 1}", MEDIUM - 100, MEDIUM - 1),  # last bytes
        ("bytes=-100", MEDIUM - 100, MEDIUM - 1),  # suffix
        (f"bytes={MEDIUM - 10}-", MEDIUM - 10, MEDIUM - 1),  # open ended
        (f"bytes=5-{MEDIUM * 2}", 5, MEDIUM - 1),  # end past the blob is cut
        ("bytes=0-0", 0, 0),
        (f"bytes=-{MEDIUM * 3}", 0, MEDIUM - 1),
        ("bytes=5-" + "9" * 5000, 5, MEDIUM - 1),  # however long the end, it is cut
        ("bytes=-" + "9" * 5000, 0, MEDIUM - 1),
    ],
)
def test_range_reads(stored, header, first, last) -> None:
    alice, blob_id, data = stored
    response = download(alice, blob_id, HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{MEDIUM}"
    assert response["Content-Length"] == str(last - first + 1)
    assert body(response) == data[first : last + 1]


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={MEDIUM}-",
        f"bytes={MEDIUM + 5}-{MEDIUM + 10}",
        "bytes=10-5",
        "bytes=-0",
        "bytes=abc",
        "bytes=0-1,5-6",
        "bytes=-",
        "bytes=" + "9" * 5000 + "-",  # int() refuses that many digits: it was a 500
    ],
)
def test_unsatisfiable_ranges_get_416(stored, header) -> None:
    alice, blob_id, _ = stored
    response = download(alice, blob_id, HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{MEDIUM}"
    assert response.json()["error"]["code"] == "range_not_satisfiable"


def test_an_unknown_range_unit_is_ignored(stored) -> None:
    alice, blob_id, data = stored
    response = download(alice, blob_id, HTTP_RANGE="items=0-5")
    assert response.status_code == 200
    assert body(response) == data


def test_a_stored_file_gone_from_disk_is_a_clear_404_before_any_byte(stored) -> None:
    from apps.blobs.models import Blob
    from apps.blobs.storage import blob_storage

    alice, blob_id, _ = stored
    blob_storage().delete(Blob.objects.get(pk=blob_id).storage_name)
    response = alice.client.get(f"/v1/blobs/{blob_id}", HTTP_RANGE="bytes=0-99")
    # An answer in the error shape, not headers of a download whose body never comes.
    assert (response.status_code, response.json()["error"]["code"]) == (404, "blob_missing")
