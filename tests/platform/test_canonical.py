from accord.platform.canonical import canonical_digest, canonical_json


def test_rfc8785_orders_keys_and_normalises_numbers() -> None:
    # Vectors from RFC 8785 section 3.2.2/3.2.3 behaviour.
    assert canonical_json({"b": 1, "a": [1.0, 1e21, -0.0]}) == b'{"a":[1,1e+21,0],"b":1}'
    assert canonical_json({"\u20ac": "x", "\r": "y"}) == b'{"\\r":"y","\xe2\x82\xac":"x"}'


def test_digest_is_independent_of_key_order() -> None:
    assert canonical_digest({"x": 1, "y": [1, 2]}) == canonical_digest({"y": [1, 2], "x": 1})
    assert canonical_digest({"x": 1}) != canonical_digest({"x": 2})
