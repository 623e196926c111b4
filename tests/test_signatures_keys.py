"""sign() with a key and certificate given: the pair is checked before signing;
a pair that passed is remembered, one that failed is refused every time."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from duis.signatures import errors as E
from duis.signatures import sign, verify
from duis.signatures.profile import SR

IS_USER = "90-B3-D5-1F-30-01-00-00"
OTHER = "90-B3-D5-1F-30-02-00-00"
REQUEST = (f'<sr:Request xmlns:sr="{SR}" schemaVersion="5.4"><sr:Header><sr:RequestID>'
           f"{IS_USER}:00-DB-12-34-56-78-90-A0:1000</sr:RequestID><sr:CommandVariant>1"
           f"</sr:CommandVariant><sr:ServiceReference>11.2</sr:ServiceReference>"
           f"<sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant></sr:Header>"
           f"<sr:Body><sr:ReadFirmwareVersion/></sr:Body></sr:Request>").encode()


NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _credential(store, eui):
    return store.signing_credential(eui, now=NOW)


def test_a_matching_pair_signs_again_and_again(store):
    own = _credential(store, IS_USER)
    first = sign(REQUEST, own.private_key, own.certificate)
    assert sign(REQUEST, own.private_key, own.certificate) == first
    assert str(verify(first, store, now=NOW).signer_eui) == IS_USER


@pytest.mark.parametrize("key_of", ["other signer", "P-384", "RSA", "not a key", "unhashable"])
def test_a_wrong_key_is_refused_every_time(store, key_of):
    own, other = _credential(store, IS_USER), _credential(store, OTHER)
    key = {"other signer": other.private_key,
           "P-384": ec.generate_private_key(ec.SECP384R1()),
           "RSA": rsa.generate_private_key(65537, 1024),
           "not a key": "key",
           "unhashable": [own.private_key]}[key_of]
    for _ in range(2):  # the second time too: a refusal is not remembered
        with pytest.raises(E.CredentialError) as caught:
            sign(REQUEST, key, own.certificate)
        expected = "the key of certificate serial" if key_of == "other signer" else "P-256"
        assert expected in caught.value.expected
    # and the right key for that certificate still signs
    assert sign(REQUEST, own.private_key, own.certificate)


def test_a_key_with_the_wrong_certificate_is_refused(store):
    own, other = _credential(store, IS_USER), _credential(store, OTHER)
    sign(REQUEST, own.private_key, own.certificate)
    with pytest.raises(E.CredentialError, match="does not match"):
        sign(REQUEST, own.private_key, other.certificate)
