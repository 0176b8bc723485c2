#!/usr/bin/env python3
"""Writes the hand-made seed inputs into fuzz/corpus/<target>/ (as seed-NNN files).

The checked-in corpus is these seeds plus what the fuzzer found, minimised with
`cargo fuzz cmin` (which renames every file to its SHA-1). Re-run this to add seeds, then
fuzz and minimise again (see docs/fuzzing.md).
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = "https://93.184.216.34/product"
KEY = "sk_live_0123456789abcdef0123456789abcdef"

# ---------------------------------------------------------------------------------------
# url_guard: URLs as customers type them, good and bad (mostly from shared/src/guard.rs).
URLS = [
    "example.com", "  example.com/path  ", "example.com:8443/p?q=1",
    "https://www.example.com/path?q=1", "HTTPS://WWW.Example.COM/Path",
    "https://example.com./", "//example.com/p", "example.com/a?next=http://x",
    "http://93.184.216.34/", "93.184.216.34", "https://[2606:4700::1111]/",
    "http://[::ffff:93.184.216.34]/", "http://[2002:5db8:d822::1]/",
    "https://münchen.example/", "http://8.8.8.8:80/", "https://172.32.0.1/",
    "https://100.128.0.1/", "https://hooks.example.com/x?sig=1#frag",
    "https://public.example.com/p", "https://private.example.com/",
    "https://mixed.example.com/", "mapped.example.com",
    # odd IPv4 spellings
    "http://2130706433/", "http://0x7f000001/", "http://0x7f.0.0.1/", "http://0177.0.0.1/",
    "http://0x7f.1/", "http://127.1/", "http://0/", "http://0.0.0.0/", "http://127.0.0.1./",
    "http://127.0.0.1:8080/", "http://127\u3002" "0\u3002" "0\u3002" "1/",
    "http://\uff11\uff12\uff17.0.0.1/", "127.0.0.1", "127.0.0.1:8080/admin", "//127.0.0.1/",
    "http://1.2.3.4.5/", "http://0x5db8d822/", "http://1572395042/", "http://93.0xb8.0330.34/",
    "http://0x100000000/", "http://4294967296/", "http://08.1.1.1/", "http://1.1.1.1.",
    # private ranges
    "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://224.0.0.1/",
    "http://255.255.255.255/", "http://198.18.0.1/", "http://203.0.113.9/",
    # IPv6 literals
    "http://[::1]/", "[::1]:8080", "http://[::]/", "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:a9fe:a9fe]/", "http://[::127.0.0.1]/", "http://[::ffff:0:7f00:1]/",
    "http://[fd00:ec2::254]/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/",
    "http://[ff02::1]/", "http://[2001:db8::1]/", "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b:1::a00:1]/", "http://[2002:7f00:1::]/",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "http://[100::1]/",
    "https://[::ffff:10.0.0.1]:443/", "http://[0:0:0:0:0:ffff:7f00:1]/", "http://[::1/",
    # names
    "localhost", "localhost:8080", "localhost.", "http://LOCALHOST/", "http://localhost%2e/",
    "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", "http://foo.localhost./",
    "http://metadata/", "http://metadata.google.internal/", "http://printer.local/",
    "http://db.localdomain/", "http://nas.home.arpa/", "http://a..example.com/",
    "http://xn--mnchen-3ya.example/", "http://xn--/", "http://ex%41mple.com/",
    "http://exa\u00admple.com/", "http://\u0435xample.com/", "http://example.com\u3002",
    # schemes and userinfo
    "file:///etc/passwd", "FILE:///etc/passwd", "ftp://example.com/", "gopher://127.0.0.1/",
    "javascript:alert(1)", "javascript:1", "data:text/html,<script>x</script>",
    "ws://example.com/", "mailto:someone@example.com", "http://user:pass@example.com/",
    "http://user@example.com/", "http://:pass@example.com/", "http://example.com@127.0.0.1/",
    "http://127.0.0.1%2f@example.com/", "user:pass@example.com", "http://@example.com/",
    "https:example.com", "http:/example.com", "http:\\\\example.com\\p", "https://example.com:/",
    # syntax
    "", "   \t ", "http://exa mple.com/", "http://exa\tmple.com/", "http://example.com/\npath",
    "http://example.com/\u0000", "http://example.com/a\u00a0b", "http:///", "https://",
    "http://./", "http://example.com:0/", "http://example.com:65536/", "example.com:0",
    "https://example.com/%zz?%%#%", "https://example.com/a/../../b/./c",
    "https://example.com/" + "a" * 2028, "https://example.com/" + "a" * 2029,
]

# ---------------------------------------------------------------------------------------
# create_body: POST /api/v1/campaigns bodies (mostly from tests/api.rs).
def j(v):
    return json.dumps(v, ensure_ascii=False)

BODIES = [j(b) for b in [
    {"url": PAGE, "languages": ["en"]},
    {"url": "93.184.216.34/p", "languages": ["en", "ja"], "platforms": ["youtube_shorts", "youtube"]},
    {"url": PAGE, "languages": ["en", "ja", "ko", "zh", "es", "fr"]},
    {"url": PAGE, "languages": ["en", "ja", "ko", "zh", "es", "fr", "de", "pt"]},
    {"url": PAGE, "languages": ["en", "xx"]},
    {"url": PAGE, "languages": ["en", "en"]},
    {"url": PAGE, "languages": []},
    {"url": PAGE, "languages": "en"},
    {"url": PAGE, "languages": [1]},
    {"url": PAGE, "platforms": ["vine"]},
    {"url": PAGE, "platforms": ["tiktok", "instagram_reels", "youtube", "youtube_shorts"]},
    {"url": PAGE, "title": ""},
    {"url": PAGE, "title": "x" * 200},
    {"url": PAGE, "title": "x" * 201},
    {"url": PAGE, "title": "  Gadget Pro  "},
    {"url": PAGE, "title": "ウィジェット｜公式サイト"},
    {"url": PAGE, "title": "tab\there"},
    {"url": PAGE, "title": 5},
    {"url": PAGE, "playlist_id": "pl_1"},
    {"url": PAGE, "playlist_id": "x" * 65},
    {"url": PAGE, "playlist_id": "pl-1"},
    {"url": PAGE, "colour": "red"},
    {},
    {"url": 42},
    {"url": None},
    {"url": "https://www.example.com/x"},
    {"url": "https://www.public.example.com/x", "webhook_url": "https://hooks.public.example.com/h"},
    {"url": PAGE, "webhook_url": "http://hooks.example.com/h"},
    {"url": PAGE, "webhook_url": "https://93.184.216.34/h", "languages": ["en"]},
    {"url": PAGE, "webhook_url": "https://private.example.com/h"},
    {"url": "https://mixed.example.com/"},
    {"url": "http://127.0.0.1:9/site", "webhook_url": "http://127.0.0.1:9/hook"},
    {"url": "file:///etc/passwd"},
    {"url": "https://example.com/", "languages": ["en"], "playlist_id": "pl_nope"},
    {"languages": ["en"], "url": PAGE},
    {"url": PAGE, "languages": None, "platforms": None, "title": None, "webhook_url": None, "playlist_id": None},
]] + [
    '{"url": "https://a.example/", "url": "http://10.0.0.1/"}',
    '{"url": "https://a.example/", "title": "\\u0000"}',
    '{"url": "https://a.example/", "title": "\\ud800"}',
    '[{"url": "https://a.example/"}]', '"https://a.example/"', 'null', '', '{', '{"url":',
    '{"url": "https://a.example/"} trailing', '\ufeff{"url": "https://a.example/"}',
    '[' * 200 + ']' * 200,
    '{"url": "https://a.example/", "languages": ["en", "ja", "ko", "zh", "es", "fr", "de", "pt", "en"]}',
]

# ---------------------------------------------------------------------------------------
# api_key: header lines as a request carries them (mostly from shared/src/keys.rs).
import base64
def b64(s):
    return base64.b64encode(s.encode()).decode()

KEYS = [
    KEY, "", "sk_live_", "sk_live_0123456789ABCDEF0123456789abcdef",
    "sk_live_0123456789abcdef0123456789abcde", "sk_live_0123456789abcdef0123456789abcdef0",
    "sk_test_0123456789abcdef0123456789abcdef", "sk_live_0123456789abcdef0123456789abcdeg",
    "sk_live_é123456789abcdef0123456789abcdef", "sk_live_0123456789abcdef0123456789abcdé",
    "sk_live_ü", "sk_live_1234567", "sk_live_12345678",
    f"authorization: Bearer {KEY}", f"authorization: bearer  {KEY} ", f"x-api-key: {KEY}",
    f"authorization: Basic {b64('user:' + KEY)}", f"authorization: Basic {b64(KEY + ':')}",
    f"authorization: Token proxy-secret\nx-api-key: {KEY}", "authorization: Bearer nope",
    f"authorization: Token {KEY}", "authorization: Basic !!!",
    f"authorization: Basic {b64('user:pass')}", "x-api-key: sk_live_short",
    f"Authorization: Bearer {KEY}\r\nX-Api-Key: sk_live_nope\r\n",
    f"authorization: Bearer {KEY}\nauthorization: Bearer nope", f"x-api-key:  {KEY}\t",
    "authorization: Bearer", "authorization: Basic", "authorization:", "x-api-key:",
    f"authorization: Basic {b64('a:b:')}", f"authorization: Basic {b64(':')}",
    f"authorization: Basic {b64(KEY)}", "x-api-key: sk_live_\u00e9\u00e9\u00e9\u00e9",
    f"content-type: application/json\nauthorization: Bearer {KEY.upper()}",
]

# ---------------------------------------------------------------------------------------
# position_expr: overlay expressions (shared/src/styles tests, docs/profiles.md).
EXPRS = [
    "(main_w-overlay_w)/2", "(main_h-overlay_h)/2", "main_h-overlay_h", "10", "1+2*3",
    "(1+2)*3", "10-4-3", "100/10/2", "-2*3", "2*-3", "--4", "1 - -1", " main_w\t/ 4 ",
    "0.5*main_h", "main_w-overlay_w-10", "main_w-(overlay_w-10)", "main_h/overlay_h/2",
    "main_h/(overlay_h/2)", "-main_w+overlay_w", "-(main_w+overlay_w)", "main_w*-2", "---1",
    "2.5*4", "0.25 * main_h", "((1))+(2*3)", "1-(2-3)", "(1-2)-3", "8/(4/2)", "-(1+2)",
    "-(-(3))", "007.50", "main_w*5", "-main_h", "main_w*main_w*main_w", "main_w/overlay_w",
    "999999999999999*999999999999999", "0.0000000000001", "1/0.0000000000001",
    "1/(0.1+0.2-0.3)",
    # refused
    "0:enable='between(t,0,5)'", "main_w;drawtext=text=x", "[in]", '"1"', "'1'", "if(1,2,3)",
    "random(1)", "t", "n", "main_w,overlay_w", "1e309", "1E5", "0x10", "W", "main_w)",
    "(main_w", "main_w overlay_w", "main_w-", "*2", "()", "1..2", "\u0000", "main_w\n",
    "main_w%2", "main_w^2", "MAIN_W", "ｍain_w", "1/0", "main_w/(overlay_w-overlay_w)", "0/0",
    "", "   ", ".5", "1.", "(1", "1)", "1 2", "é", "9999999999999999",
    "(" * 31 + "1" + ")" * 31, "(" * 32 + "1" + ")" * 32, "-(" * 16 + "1" + ")" * 16,
    "-(" * 17 + "1" + ")" * 17, "-" * 32 + "1", "-" * 33 + "1", "+".join(["1"] * 32),
    "+".join(["1"] * 33), " " * 255 + "1", " " * 256 + "1", "x" + "a" * 200,
]

def write(target, items):
    out = os.path.join(HERE, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for i, item in enumerate(items):
        data = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else item
        with open(os.path.join(out, f"seed-{i:03}"), "wb") as f:
            f.write(data)

write("url_guard", URLS + [bytes([127, 0, 0, 1]), bytes([169, 254, 169, 254]),
                           bytes([0xfd, 0, 0x0e, 0xc2] + [0] * 11 + [0x54]),
                           bytes([0x20, 0x01, 0x0d, 0xb8] + [0] * 12)])
write("create_body", BODIES)
write("api_key", KEYS)
write("position_expr", EXPRS)
