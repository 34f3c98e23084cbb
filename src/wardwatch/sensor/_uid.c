/* wardwatch.sensor._native, part: content_uid, an observation's content uid (and flow_uid, a
 * flow's uid, with the same BLAKE2b: see the end of the file).
 *
 * The C twin of wardwatch.model.observation._content_uid (the reference, and the definition):
 * BLAKE2b with a 12-byte digest of the canonical JSON
 *
 *     [protocol,mac,ip,[[key,value],...]]      fields sorted by key
 *
 * as json writes it with separators=(",", ":") and ensure_ascii=True, returned as 24 lower-case
 * hex digits. The Python code builds a sorted list of tuples, runs the JSON encoder, encodes the
 * text and hashes it; that was some 5% of the engine's CPU. Here nothing is built: the fields are
 * sorted as an array of borrowed pointers and the text goes straight into the hash.
 *
 * Scope. Only what observations hold is encoded: None, True/False, exact int within long long,
 * exact str, and exact tuples/lists of those (nested up to MAX_DEPTH); the protocol must be a str,
 * mac and ip a str or None, fields an exact dict with str keys. Anything else (a float, a bytes, an
 * int or str subclass such as an IntEnum, a huge int, a dict subclass) gives None and the caller
 * runs _content_uid, so json's rules for those types, and its errors, are never re-implemented.
 * Exact types have one more use: no Python code can run during the call (no __eq__, __lt__,
 * __index__ or __iter__ of a user's class), so the borrowed references taken from the dict and
 * the lists stay valid, and the containers cannot change under the loops.
 *
 * Text. Escapes are json's C encoder's (Modules/_json.c: ascii_escape_unichar), byte for byte:
 * printable ASCII 0x20..0x7e as itself, except '"' and '\\' which get a backslash; \b \f \n \r \t
 * in their short forms; everything else (the other control chars, 0x7f, every non-ASCII char,
 * lone surrogates included) as \uXXXX in lower-case hex, a char above 0xFFFF as its UTF-16
 * surrogate pair. Integers in decimal, as int.__repr__. The test suite (Hypothesis) holds the
 * two functions equal; tests/unit/model/test_native_uid.py.
 *
 * Memory. The text is never held whole: it is written into a 512-byte stack buffer that is fed
 * into the hash each time it fills up, so input of any length allocates nothing. The only heap
 * use is the array of fields to sort when there are more than PAIRS_ON_STACK of them. The
 * function raises only MemoryError (that array; readying a legacy str on 3.11) and TypeError (a
 * wrong argument count); unsupported input is a None, never an exception.
 */
#include "_native.h" /* Python.h */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- BLAKE2b (RFC 7693) ------------------------------------------------------------------------
 *
 * Written from RFC 7693 ("The BLAKE2 Cryptographic Hash and Message Authentication Code"),
 * sections 2 and 3, for the one case needed here: unkeyed, sequential mode, any output length
 * up to 64 bytes (we use 12).
 *
 *   Words are 64-bit, read little-endian; blocks are 128 bytes (16 words); 12 rounds.
 *   IV (2.6): the SHA-512 initial hash values.
 *   SIGMA (2.7): the ten message word permutations; rounds 10 and 11 reuse rows 0 and 1.
 *   G (3.1): a = a + b + x; d = (d ^ a) >>> 32; c = c + d; b = (b ^ c) >>> 24;
 *            a = a + b + y; d = (d ^ a) >>> 16; c = c + d; b = (b ^ c) >>> 63.
 *   F (3.2): v[0..7] = h, v[8..15] = IV; v[12] ^= t mod 2**64; v[13] ^= t >> 64;
 *            v[14] = ~v[14] for the last block; per round, with s = SIGMA[round]:
 *            G(v0,v4,v8,v12, m[s0],m[s1])   G(v1,v5,v9,v13, m[s2],m[s3])
 *            G(v2,v6,v10,v14, m[s4],m[s5])  G(v3,v7,v11,v15, m[s6],m[s7])
 *            G(v0,v5,v10,v15, m[s8],m[s9])  G(v1,v6,v11,v12, m[s10],m[s11])
 *            G(v2,v7,v8,v13, m[s12],m[s13]) G(v3,v4,v9,v14, m[s14],m[s15]);
 *            then h[i] ^= v[i] ^ v[i + 8].
 *   Hash (3.3): h = IV; h[0] ^= 0x01010000 ^ (keylen << 8) ^ outlen (the parameter block: digest
 *            length, key length 0, fanout 1, depth 1). Every block but the last is compressed
 *            with t = the bytes so far, this block included; the last block (zero-padded; an
 *            empty message is one zero block) with t = the message length and the final flag.
 *            The digest is the first outlen bytes of h, each word little-endian.
 *
 * t is kept in 64 bits: its high word stays 0 below 2**64 bytes of input.
 */
static const uint64_t B2_IV[8] = {
    UINT64_C(0x6A09E667F3BCC908), UINT64_C(0xBB67AE8584CAA73B), UINT64_C(0x3C6EF372FE94F82B),
    UINT64_C(0xA54FF53A5F1D36F1), UINT64_C(0x510E527FADE682D1), UINT64_C(0x9B05688C2B3E6C1F),
    UINT64_C(0x1F83D9ABFB41BD6B), UINT64_C(0x5BE0CD19137E2179),
};

static const uint8_t B2_SIGMA[10][16] = { /* rounds 10 and 11 take rows 0 and 1: r % 10 */
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

#define B2_BLOCK 128

typedef struct {
    uint64_t h[8];
    uint64_t t;            /* bytes compressed so far (the counter's low word) */
    size_t c;              /* bytes waiting in b: the last block is held back until the end */
    uint8_t b[B2_BLOCK];
} Blake2b;

static inline uint64_t rotr64(uint64_t x, unsigned n) { return x >> n | x << (64 - n); }

/* byte by byte, so it is right on any byte order; compilers turn it into one load */
static inline uint64_t load64le(const uint8_t *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

#define B2_G(a, b, c, d, x, y)         \
    do {                               \
        v[a] = v[a] + v[b] + (x);      \
        v[d] = rotr64(v[d] ^ v[a], 32); \
        v[c] = v[c] + v[d];            \
        v[b] = rotr64(v[b] ^ v[c], 24); \
        v[a] = v[a] + v[b] + (y);      \
        v[d] = rotr64(v[d] ^ v[a], 16); \
        v[c] = v[c] + v[d];            \
        v[b] = rotr64(v[b] ^ v[c], 63); \
    } while (0)

/* F: compress the block in s->b (s->t already counts it) */
static void b2_compress(Blake2b *s, int last) {
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++) m[i] = load64le(s->b + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = s->h[i];
        v[i + 8] = B2_IV[i];
    }
    v[12] ^= s->t;
    if (last) v[14] = ~v[14];
    for (int r = 0; r < 12; r++) {
        const uint8_t *x = B2_SIGMA[r % 10];
        B2_G(0, 4, 8, 12, m[x[0]], m[x[1]]);
        B2_G(1, 5, 9, 13, m[x[2]], m[x[3]]);
        B2_G(2, 6, 10, 14, m[x[4]], m[x[5]]);
        B2_G(3, 7, 11, 15, m[x[6]], m[x[7]]);
        B2_G(0, 5, 10, 15, m[x[8]], m[x[9]]);
        B2_G(1, 6, 11, 12, m[x[10]], m[x[11]]);
        B2_G(2, 7, 8, 13, m[x[12]], m[x[13]]);
        B2_G(3, 4, 9, 14, m[x[14]], m[x[15]]);
    }
    for (int i = 0; i < 8; i++) s->h[i] ^= v[i] ^ v[i + 8];
}

static void b2_init(Blake2b *s, unsigned outlen) {
    memcpy(s->h, B2_IV, sizeof s->h);
    s->h[0] ^= UINT64_C(0x01010000) ^ outlen; /* key length 0 */
    s->t = 0;
    s->c = 0;
}

static void b2_update(Blake2b *s, const uint8_t *in, size_t n) {
    while (n > 0) {
        if (s->c == B2_BLOCK) { /* more input follows, so the held block is not the last */
            s->t += B2_BLOCK;
            b2_compress(s, 0);
            s->c = 0;
        }
        size_t k = B2_BLOCK - s->c;
        if (k > n) k = n;
        memcpy(s->b + s->c, in, k);
        s->c += k;
        in += k;
        n -= k;
    }
}

static void b2_final(Blake2b *s, uint8_t *out, unsigned outlen) {
    s->t += s->c;
    memset(s->b + s->c, 0, B2_BLOCK - s->c);
    b2_compress(s, 1);
    for (unsigned i = 0; i < outlen; i++) out[i] = (uint8_t)(s->h[i / 8] >> (8 * (i % 8)));
}

/* --- the canonical JSON, written into the hash ------------------------------------------------ */
#define DIGEST_LEN 12
#define OUT_CAP 512
#define ESC_MAX 12 /* the longest text of one char: \udXXX\udXXX */
/* Nesting of tuples/lists inside a field value (a field value is depth 0). Deeper input, and a
 * list that contains itself, gives None: json then does what it does (the latter: ValueError). */
#define MAX_DEPTH 16
/* Fields sorted in a stack array up to this many (an observation has a handful), else the heap. */
#define PAIRS_ON_STACK 32
/* Up to this many fields are sorted by insertion (fewer calls than qsort for the usual 1 to 5). */
#define INSERTION_MAX 12

/* What the encoding functions return. */
enum { ENC_OK = 0, ENC_UNSUPPORTED = 1, ENC_ERROR = -1 /* an exception is set */ };

typedef struct {
    Blake2b hash;
    size_t n; /* bytes in buf */
    uint8_t buf[OUT_CAP];
} Out;

static const char HEX[] = "0123456789abcdef";

static void out_flush(Out *o) {
    b2_update(&o->hash, o->buf, o->n);
    o->n = 0;
}

/* Make room for k <= OUT_CAP bytes at o->buf + o->n. */
static inline void out_room(Out *o, size_t k) {
    if (OUT_CAP - o->n < k) out_flush(o);
}

static inline void out_byte(Out *o, uint8_t c) {
    out_room(o, 1);
    o->buf[o->n++] = c;
}

/* Short literals only (null, true, false): len <= OUT_CAP. */
static inline void out_lit(Out *o, const char *s, size_t len) {
    out_room(o, len);
    memcpy(o->buf + o->n, s, len);
    o->n += len;
}

static inline uint8_t *put_u_escape(uint8_t *p, Py_UCS4 u) {
    *p++ = '\\';
    *p++ = 'u';
    *p++ = (uint8_t)HEX[(u >> 12) & 0xF];
    *p++ = (uint8_t)HEX[(u >> 8) & 0xF];
    *p++ = (uint8_t)HEX[(u >> 4) & 0xF];
    *p++ = (uint8_t)HEX[u & 0xF];
    return p;
}

/* An exact str as a JSON string with ensure_ascii (see the header for the rules). */
static int put_str(Out *o, PyObject *s) {
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0) return ENC_ERROR; /* a legacy str: only 3.11 can have one */
#endif
    Py_ssize_t len = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    out_byte(o, '"');
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        out_room(o, ESC_MAX);
        uint8_t *p = o->buf + o->n;
        if (c >= 0x20 && c <= 0x7E) {
            if (c == '"' || c == '\\') *p++ = '\\';
            *p++ = (uint8_t)c;
        } else {
            switch (c) {
            case '\b': *p++ = '\\'; *p++ = 'b'; break;
            case '\f': *p++ = '\\'; *p++ = 'f'; break;
            case '\n': *p++ = '\\'; *p++ = 'n'; break;
            case '\r': *p++ = '\\'; *p++ = 'r'; break;
            case '\t': *p++ = '\\'; *p++ = 't'; break;
            default:
                if (c >= 0x10000) { /* UTF-16: high surrogate, then the low one below */
                    p = put_u_escape(p, 0xD800 | ((c - 0x10000) >> 10));
                    c = 0xDC00 | (c & 0x3FF);
                }
                p = put_u_escape(p, c);
            }
        }
        o->n = (size_t)(p - o->buf);
    }
    out_byte(o, '"');
    return ENC_OK;
}

/* An exact int in decimal, or ENC_UNSUPPORTED beyond long long (json would write it; the caller's
 * Python does). */
static int put_int(Out *o, PyObject *v) {
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow != 0) return ENC_UNSUPPORTED;
    if (x == -1 && PyErr_Occurred()) return ENC_ERROR; /* not for an exact int; kept for safety */
    char tmp[24]; /* 20 digits and a sign at most */
    size_t k = sizeof tmp;
    /* the magnitude in unsigned arithmetic, so LLONG_MIN does not overflow */
    unsigned long long u = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (x < 0) tmp[--k] = '-';
    out_room(o, sizeof tmp - k);
    memcpy(o->buf + o->n, tmp + k, sizeof tmp - k);
    o->n += sizeof tmp - k;
    return ENC_OK;
}

/* A field value (or a list item): None, a bool, an exact int or str, an exact tuple or list. */
static int put_value(Out *o, PyObject *v, int depth) {
    /* bool before int (bool is an int subclass; the exact check below would skip it anyway) */
    if (v == Py_None) {
        out_lit(o, "null", 4);
    } else if (v == Py_True) {
        out_lit(o, "true", 4);
    } else if (v == Py_False) {
        out_lit(o, "false", 5);
    } else if (PyUnicode_CheckExact(v)) {
        return put_str(o, v);
    } else if (PyLong_CheckExact(v)) {
        return put_int(o, v);
    } else if (PyTuple_CheckExact(v) || PyList_CheckExact(v)) {
        if (depth >= MAX_DEPTH) return ENC_UNSUPPORTED;
        /* no Python code runs below (exact types only), so the list cannot change meanwhile */
        Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
        PyObject **items = PySequence_Fast_ITEMS(v);
        out_byte(o, '[');
        for (Py_ssize_t i = 0; i < n; i++) {
            if (i > 0) out_byte(o, ',');
            int rc = put_value(o, items[i], depth + 1);
            if (rc != ENC_OK) return rc;
        }
        out_byte(o, ']');
    } else {
        return ENC_UNSUPPORTED; /* float, bytes, dict, a subclass of int or str, ... */
    }
    return ENC_OK;
}

/* --- content_uid ------------------------------------------------------------------------------ */
typedef struct {
    PyObject *key, *value; /* borrowed from the dict */
} Pair;

/* Keys are exact str, so PyUnicode_Compare cannot fail and orders by code point, as Python's str
 * comparison (and so sorted()) does. Keys of a dict are distinct: no ties, so the order is the
 * same whichever sort makes it. */
static int pair_cmp(const void *a, const void *b) {
    return PyUnicode_Compare(((const Pair *)a)->key, ((const Pair *)b)->key);
}

static void sort_pairs(Pair *p, Py_ssize_t n) {
    if (n > INSERTION_MAX) {
        qsort(p, (size_t)n, sizeof *p, pair_cmp);
        return;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        Pair x = p[i];
        Py_ssize_t j = i;
        while (j > 0 && PyUnicode_Compare(p[j - 1].key, x.key) > 0) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = x;
    }
}

PyDoc_STRVAR(content_uid_doc,
"content_uid(protocol, mac, ip, fields, /) -> str | None\n\n"
"wardwatch.model.observation._content_uid in C: the 24 hex digits of blake2b-96 of the canonical\n"
"JSON of an observation's content. None when the input holds something this code does not encode\n"
"(see _uid.c: anything but str, None, bool, an int within 64 bits, and tuples/lists of those;\n"
"subclasses included): the caller then runs _content_uid.");

/* The canonical JSON of the content, into o's hash; pairs are the fields, sorted. */
static int put_content(Out *o, PyObject *protocol, PyObject *mac, PyObject *ip, const Pair *pairs,
                       Py_ssize_t n) {
    int rc;
    out_byte(o, '[');
    if ((rc = put_str(o, protocol)) != ENC_OK) return rc;
    out_byte(o, ',');
    if ((rc = put_value(o, mac, 0)) != ENC_OK) return rc;
    out_byte(o, ',');
    if ((rc = put_value(o, ip, 0)) != ENC_OK) return rc;
    out_lit(o, ",[", 2);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i > 0) out_byte(o, ',');
        out_byte(o, '[');
        if ((rc = put_str(o, pairs[i].key)) != ENC_OK) return rc;
        out_byte(o, ',');
        if ((rc = put_value(o, pairs[i].value, 0)) != ENC_OK) return rc;
        out_byte(o, ']');
    }
    out_lit(o, "]]", 2);
    return ENC_OK;
}

/* A digest as lower-case hex text. */
static PyObject *hex_text(const uint8_t *digest, int n) {
    PyObject *result = PyUnicode_New(2 * n, 127);
    if (result == NULL) return NULL;
    Py_UCS1 *hex = PyUnicode_1BYTE_DATA(result);
    for (int i = 0; i < n; i++) {
        hex[2 * i] = (Py_UCS1)HEX[digest[i] >> 4];
        hex[2 * i + 1] = (Py_UCS1)HEX[digest[i] & 0xF];
    }
    return result;
}

/* The hex digest of the content, None (unsupported) or NULL (an exception). */
static PyObject *uid_of(PyObject *protocol, PyObject *mac, PyObject *ip, const Pair *pairs, Py_ssize_t n) {
    Out o;
    b2_init(&o.hash, DIGEST_LEN);
    o.n = 0;
    int rc = put_content(&o, protocol, mac, ip, pairs, n);
    if (rc == ENC_ERROR) return NULL;
    if (rc == ENC_UNSUPPORTED) Py_RETURN_NONE;
    out_flush(&o);
    uint8_t digest[DIGEST_LEN];
    b2_final(&o.hash, digest, DIGEST_LEN);
    return hex_text(digest, DIGEST_LEN);
}

static PyObject *content_uid(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_Format(PyExc_TypeError, "content_uid takes 4 arguments, not %zd", nargs);
        return NULL;
    }
    PyObject *protocol = args[0], *mac = args[1], *ip = args[2], *fields = args[3];
    if (!PyUnicode_CheckExact(protocol) || (mac != Py_None && !PyUnicode_CheckExact(mac)) ||
        (ip != Py_None && !PyUnicode_CheckExact(ip)) || !PyDict_CheckExact(fields))
        Py_RETURN_NONE;

    Pair on_stack[PAIRS_ON_STACK];
    Pair *pairs = on_stack;
    Py_ssize_t n = PyDict_GET_SIZE(fields);
    if (n > PAIRS_ON_STACK) {
        pairs = PyMem_New(Pair, (size_t)n); /* NULL also when n * sizeof(Pair) would overflow */
        if (pairs == NULL) return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    Py_ssize_t pos = 0, have = 0;
    PyObject *k, *v;
    while (PyDict_Next(fields, &pos, &k, &v)) {
        if (have == n || !PyUnicode_CheckExact(k)) { /* the former cannot happen: no code runs */
            result = Py_NewRef(Py_None);
            break;
        }
        pairs[have].key = k;
        pairs[have].value = v;
        have++;
    }
    if (result == NULL) {
        sort_pairs(pairs, have);
        result = uid_of(protocol, mac, ip, pairs, have);
    }
    if (pairs != on_stack) PyMem_Free(pairs);
    return result;
}

/* --- a flow's uid --------------------------------------------------------------------------------- */
/* Room for an endpoint text "ip#port": the longest IP text (45) and port (20) with room to spare. */
#define ENDPOINT_CAP 96

/* The ASCII bytes of an exact str, or NULL when it is not one (no exception). */
static const char *ascii_of(PyObject *s, Py_ssize_t *len) {
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s)) return NULL;
    *len = PyUnicode_GET_LENGTH(s);
    return (const char *)PyUnicode_1BYTE_DATA(s);
}

/* "ip#port" into buf; its length, or -1 when it does not fit. */
static int endpoint_text(char *buf, const char *ip, Py_ssize_t iplen, long long port) {
    if (iplen > ENDPOINT_CAP - 24) return -1;
    memcpy(buf, ip, (size_t)iplen);
    int k = snprintf(buf + iplen, 24, "#%lld", port);
    return k < 0 || k >= 24 ? -1 : (int)iplen + k;
}

PyDoc_STRVAR(flow_uid_doc,
"flow_uid(prefix, lo_ip, lo_port, hi_ip, hi_port, first_ns) -> str | None\n\n"
"The uid of an IP flow as wardwatch.sensor.flows.meter.flow_uid makes it: blake2b-64, in hex, of\n"
"prefix + the two \"ip#port\" endpoint texts in text order, joined by '|', + '|' + first_ns.\n"
"None for what it does not encode (text that is not ASCII, ints past 64 bits): the Python\n"
"definition then applies.");

static PyObject *flow_uid(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "flow_uid takes 6 arguments, not %zd", nargs);
        return NULL;
    }
    Py_ssize_t plen = 0, lolen = 0, hilen = 0;
    const char *prefix = ascii_of(args[0], &plen), *lo = ascii_of(args[1], &lolen), *hi = ascii_of(args[3], &hilen);
    if (prefix == NULL || lo == NULL || hi == NULL) Py_RETURN_NONE;
    long long v[3];
    PyObject *ints[3] = {args[2], args[4], args[5]};
    for (int i = 0; i < 3; i++) {
        if (!PyLong_CheckExact(ints[i])) Py_RETURN_NONE;
        int overflow;
        v[i] = PyLong_AsLongLongAndOverflow(ints[i], &overflow);
        if (overflow) Py_RETURN_NONE;
        if (v[i] == -1 && PyErr_Occurred()) return NULL;
    }
    return wardwatch_flow_uid_text(prefix, plen, lo, lolen, v[0], hi, hilen, v[1], v[2]);
}

PyObject *wardwatch_flow_uid_text(const char *prefix, Py_ssize_t plen, const char *lo, Py_ssize_t lolen,
                                  long long lo_port, const char *hi, Py_ssize_t hilen, long long hi_port,
                                  long long first_ns) {
    char e1[ENDPOINT_CAP], e2[ENDPOINT_CAP], tail[32];
    int n1 = endpoint_text(e1, lo, lolen, lo_port), n2 = endpoint_text(e2, hi, hilen, hi_port);
    int nt = snprintf(tail, sizeof tail, "|%lld", first_ns);
    if (n1 < 0 || n2 < 0 || nt < 0 || nt >= (int)sizeof tail) Py_RETURN_NONE;
    /* Python orders the texts by code point: for ASCII, byte order, and a prefix first */
    int c = memcmp(e1, e2, (size_t)(n1 < n2 ? n1 : n2));
    int swap = c > 0 || (c == 0 && n1 > n2);
    Blake2b h;
    b2_init(&h, 8);
    b2_update(&h, (const uint8_t *)prefix, (size_t)plen);
    b2_update(&h, (const uint8_t *)(swap ? e2 : e1), (size_t)(swap ? n2 : n1));
    b2_update(&h, (const uint8_t *)"|", 1);
    b2_update(&h, (const uint8_t *)(swap ? e1 : e2), (size_t)(swap ? n1 : n2));
    b2_update(&h, (const uint8_t *)tail, (size_t)nt);
    uint8_t digest[8];
    b2_final(&h, digest, 8);
    return hex_text(digest, 8);
}

static PyMethodDef uid_methods[] = {
    {"content_uid", (PyCFunction)(void (*)(void))content_uid, METH_FASTCALL, content_uid_doc},
    {"flow_uid", (PyCFunction)(void (*)(void))flow_uid, METH_FASTCALL, flow_uid_doc},
    {NULL, NULL, 0, NULL},
};

int wardwatch_uid_init(PyObject *module) { return PyModule_AddFunctions(module, uid_methods); }
