"""Session reads and writes: pending writes, destroy, encoding, guards."""

import json
import unittest

from sidecar_session import MAX_PATCH_BYTES, HeadersSent, PatchTooLarge, Session, SessionWriteError, to_raw, to_wsgi

from .helpers import claims


def session(**over):
    return Session(claims(**over))


class ReadsTest(unittest.TestCase):
    def test_reads_claims(self):
        s = session(new=True, sid="", ver=0, sub=None, data={})
        self.assertTrue(s.is_new())
        self.assertEqual(s.sid(), "")
        self.assertEqual(s.version(), 0)
        self.assertIsNone(s.principal())
        self.assertEqual(s.all(), {})
        self.assertEqual(s.get("x", "dflt"), "dflt")
        self.assertEqual(s.claims()["jti"], "req-1")
        self.assertEqual(s.headers(), [])

    def test_keys_keep_their_case(self):
        s = session(data={"User": 1, "user": 2, "cartItems": {"SKU": 1}})
        self.assertEqual(s.all(), {"User": 1, "user": 2, "cartItems": {"SKU": 1}})
        s.set("CamelCase", {"MiXed": True})
        self.assertEqual(s.headers(), [("X-Sidecar-Patch", '{"CamelCase":null}'),
                                       ("X-Sidecar-Patch", '{"CamelCase":{"MiXed":true}}')])

    def test_all_is_a_copy(self):
        s = session()
        s.all()["cart"]["sku-1"] = 99
        self.assertEqual(s.get("cart"), {"sku-1": 2})


class PendingWritesTest(unittest.TestCase):
    def test_reads_see_pending_writes(self):
        s = session()
        s.set("a", 1)
        self.assertEqual(s.get("a"), 1)
        s.remove("theme")
        self.assertEqual(s.get("theme", "none"), "none")
        self.assertNotIn("theme", s.all())
        s.set("theme", "light")
        self.assertEqual(s.get("theme"), "light")

    def test_set_replaces_an_object(self):
        s = session(data={"cart": {"sku-1": 2, "sku-2": 1}})
        s.set("cart", {"sku-3": 5})
        self.assertEqual(s.get("cart"), {"sku-3": 5})
        self.assertEqual(s.headers(), [("X-Sidecar-Patch", '{"cart":null}'), ("X-Sidecar-Patch", '{"cart":{"sku-3":5}}')])

    def test_merge_merges_like_sidecar(self):
        s = session(data={"cart": {"sku-1": 2, "sku-2": 1}})
        s.merge("cart", {"sku-2": None, "sku-3": 5})
        self.assertEqual(s.get("cart"), {"sku-1": 2, "sku-3": 5})
        self.assertEqual(s.headers(), [("X-Sidecar-Patch", '{"cart":{"sku-2":null,"sku-3":5}}')])

    def test_set_refuses_null_members_merge_refuses_non_dicts(self):
        s = session()
        with self.assertRaises(ValueError):
            s.set("cart", {"sku-1": None})
        with self.assertRaises(ValueError):
            s.set("u", {"p": {"t": None}})
        s.set("l", [None, {"x": None}])  # lists are stored as they are
        for bad in ([1], "x", 5, None):
            with self.subTest(bad=bad), self.assertRaises(TypeError):
                s.merge("cart", bad)
        self.assertEqual(s.headers(), [("X-Sidecar-Patch", '{"l":[null,{"x":null}]}')])

    def test_value_is_copied_at_set(self):
        s = session()
        v = {"n": [1]}
        s.set("v", v)
        v["n"].append(2)
        self.assertEqual(s.get("v"), {"n": [1]})
        self.assertEqual(s.headers()[1][1], '{"v":{"n":[1]}}')

    def test_first_touch_order_last_write_wins(self):
        s = session()
        s.set("b", 1)
        s.set("a", 2)
        s.remove("b")
        s.set("a", 3)
        s.set("c", None)
        self.assertEqual(s.headers(), [("X-Sidecar-Patch", '{"b":null,"a":3,"c":null}')])

    def test_principal_and_action_order(self):
        s = session()
        s.regenerate()
        s.set_principal("Zoë")
        s.set("x", "y")
        self.assertEqual(s.principal(), "Zoë")
        self.assertEqual(s.headers(), [("X-Sidecar-Patch", '{"x":"y"}'),
                                       ("X-Sidecar-Principal", "Zoë"),
                                       ("X-Sidecar-Action", "regenerate")])

    def test_clearing_the_principal(self):
        for value in (None, ""):
            s = session()
            s.set_principal(value)
            self.assertIsNone(s.principal())
            self.assertEqual(s.headers(), [("X-Sidecar-Principal", "")])


class DestroyTest(unittest.TestCase):
    def test_destroy_drops_everything_else(self):
        s = session()
        s.set("a", 1)
        s.set_principal("bob")
        s.regenerate()
        s.destroy()
        self.assertEqual(s.all(), {})
        self.assertIsNone(s.get("cart"))
        self.assertIsNone(s.principal())
        self.assertEqual(s.headers(), [("X-Sidecar-Action", "destroy")])

    def test_destroy_wins_over_a_later_regenerate(self):
        s = session()
        s.destroy()
        s.regenerate()
        self.assertEqual(s.headers(), [("X-Sidecar-Action", "destroy")])


class EncodingTest(unittest.TestCase):
    def test_ascii_only(self):
        s = session()
        s.set("name", "Zoë 東京 😀 a/b \"q\" \\ \x7f\x01\n")
        value = s.headers()[0][1]
        self.assertEqual(
            value,
            '{"name":"Zo\\u00eb \\u6771\\u4eac \\ud83d\\ude00 a/b \\"q\\" \\\\ \\u007f\\u0001\\n"}')
        self.assertTrue(all(0x20 <= ord(c) <= 0x7E for c in value))
        self.assertEqual(json.loads(value)["name"], "Zoë 東京 😀 a/b \"q\" \\ \x7f\x01\n")

    def test_empty_object_is_an_object(self):
        s = session()
        s.set("prefs", {})
        s.set("list", [])
        self.assertEqual(s.headers(), [("X-Sidecar-Patch", '{"prefs":null}'), ("X-Sidecar-Patch", '{"prefs":{},"list":[]}')])

    def test_unencodable_values_raise_at_set(self):
        s = session()
        for bad in (float("nan"), float("inf"), object(), {1, 2}, "\ud800", {"k": b"bytes"}):
            with self.subTest(bad=repr(bad)):
                with self.assertRaises(ValueError):
                    s.set("x", bad)
        self.assertEqual(s.headers(), [])

    def test_wire_forms_of_the_principal(self):
        s = session()
        s.set_principal("東京")
        self.assertEqual(to_wsgi(s.headers()), [("X-Sidecar-Principal", "東京".encode().decode("latin-1"))])
        self.assertEqual(to_raw(s.headers()), [(b"x-sidecar-principal", "東京".encode())])
        self.assertEqual(s.wsgi_headers(), to_wsgi(s.headers()))
        self.assertEqual(s.raw_headers(), to_raw(s.headers()))


class GuardsTest(unittest.TestCase):
    def test_names(self):
        s = session()
        for bad in ("", None, 1):
            with self.assertRaises(ValueError):
                s.set(bad, 1)
            with self.assertRaises(ValueError):
                s.remove(bad)

    def test_principal_control_chars(self):
        s = session()
        for bad in ("a\nb", "a\rb", "\x00", "tab\there", "del\x7f", "\x1f"):
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    s.set_principal(bad)
        with self.assertRaises(ValueError):
            s.set_principal("\udc80")
        with self.assertRaises(TypeError):
            s.set_principal(42)
        self.assertEqual(s.headers(), [])
        s.set_principal("ok \u0080 \u00a0 name")  # C1 and NBSP are not ASCII control chars
        self.assertEqual(s.principal(), "ok \u0080 \u00a0 name")

    def test_size_guard(self):
        s = session()
        room = MAX_PATCH_BYTES - len('{"k":""}')
        s.set("k", "x" * room)
        self.assertEqual(len(s.headers()[0][1]), MAX_PATCH_BYTES)
        s.set("k", "x" * (room + 1))
        with self.assertRaises(PatchTooLarge) as cm:
            s.headers()
        self.assertIn("patch too large", str(cm.exception))
        s2 = session()
        s2.set("k", "é" * (room // 6 + 1))  # each é is 6 ASCII bytes once escaped
        with self.assertRaises(PatchTooLarge):
            s2.headers()

    def test_writes_after_seal_raise(self):
        s = session()
        s.set("a", 1)
        self.assertEqual(s.seal(), [("X-Sidecar-Patch", '{"a":1}')])
        self.assertTrue(s.sent())
        for write in (lambda: s.set("b", 2), lambda: s.remove("a"), lambda: s.set_principal("x"),
                      s.regenerate, s.destroy):
            with self.assertRaises(HeadersSent):
                write()
        self.assertEqual(s.headers(), [("X-Sidecar-Patch", '{"a":1}')])

    def test_anonymous_session_is_read_only(self):
        s = Session.anonymous()
        self.assertTrue(s.is_new())
        self.assertEqual(s.all(), {})
        with self.assertRaises(SessionWriteError) as cm:
            s.set("a", 1)
        self.assertNotIsInstance(cm.exception, HeadersSent)
        self.assertEqual(s.headers(), [])


if __name__ == "__main__":
    unittest.main()
