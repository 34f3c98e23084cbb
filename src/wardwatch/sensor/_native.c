/* wardwatch.sensor._native: the sensor's per-packet loops in C.
 *
 * decode_into  the header decode of wardwatch.sensor.flows.decode.decode_numpy, one packet at a
 *              time instead of one array step at a time (same rules, same results, field by field);
 * walk_pcap    the sequential walk over classic pcap record headers (each start depends on the
 *              previous record's captured length, so NumPy can only guess it in parallel);
 * syn_key      the memo key of a TCP SYN (engine._syn_key).
 *
 * The module's other source files (setup.py lists them; _native.h is what they share) add the
 * flow meter's per-batch set-up (_meter.c: meter_keys, meter_segments), the sightings table
 * (_sightings.c: SightingTable), the conversations table (_conversations.c: ConversationTable) and
 * an observation's content uid (_uid.c: content_uid). ADR 010
 * and ADR 012.
 *
 * All are optional: when this module is missing (no compiler at install time) or
 * WARDWATCH_PURE_PYTHON is set, the NumPy code does the same work. The tests run both and compare.
 *
 * Arrays come in and go out through the buffer protocol only: Python allocates every output array
 * and this code fills it, so there is no NumPy C API here and no build dependency on NumPy headers.
 * Every array is checked for its element kind, size and length before the first byte is touched,
 * and every packet's byte range is checked against the data buffer: hostile capture bytes can
 * give error codes, never a read outside the buffer. The GIL is released while the loops run
 * (the buffers stay exported, so their owners cannot resize them meanwhile).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#include "_native.h"

/* --- the constants of decode.py (exported as CONSTANTS; a test checks they agree) ------------- */
enum {
    T_L2 = 0, T_TCP = 1, T_UDP = 2, T_ICMP = 3, T_ICMP6 = 4, T_OTHER = 5,
};
enum {
    E_OK = 0, E_LINK_TRUNCATED = 1, E_UNKNOWN_LINKTYPE = 2, E_BAD_IP_VERSION = 3,
    E_IP_TRUNCATED = 4, E_BAD_IHL = 5, E_BAD_IP_LENGTH = 6, E_IPV6_EXT = 7,
    E_L4_TRUNCATED = 8, E_BAD_TCP_OFFSET = 9, E_UNKNOWN_AF = 10,
};
enum {
    LT_NULL = 0, LT_ETHERNET = 1, LT_RAW = 101, LT_LINUX_SLL = 113, LT_IPV4 = 228, LT_IPV6 = 229,
    LT_LINUX_SLL2 = 276,
};
#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86DD
#define MAX_VLAN_TAGS 4
#define MAX_EXT_HEADERS 8
#define LLC_BASE 0x20000
#define CISCO_SNAP_BASE 0x10000
#define V4_MAPPED UINT64_C(0xFFFF00000000)
/* "no length field bounded this packet": the NumPy code's sentinel, kept so the logic reads alike */
#define NO_DEND (INT64_C(1) << 40)

#define RECORD_HEADER_LEN 16

/* Prefetch distances, in records or packets. Both loops stream through a capture far larger than
 * the CPU caches, one header per cache line or more: without a hint each header costs a memory
 * round trip. decode_into knows the offsets of the packets to come, so it asks for the packet
 * DECODE_PREFETCH ahead; walk_pcap cannot know where the next records start (each start is the
 * previous one plus its length) and guesses WALK_PREFETCH records of the current size ahead, which
 * is exact for runs of equal sizes (a transfer's full frames) and a harmless miss otherwise.
 * A prefetch never faults and changes no result. With both at 8 the engine took 0.28 s of CPU on
 * the bench's imaging capture (b) against 0.40 s without; 4 gave 0.29 s and 16 no better than 8
 * (ADR 012, session 8). */
#ifndef DECODE_PREFETCH
#define DECODE_PREFETCH 8
#endif
#ifndef WALK_PREFETCH
#define WALK_PREFETCH 8
#endif
enum { WALK_FULL = 0, WALK_INCOMPLETE = 1, WALK_CORRUPT = 2 };

/* --- big-endian reads; callers have checked the bytes lie inside the packet ------------------- */
static inline int64_t be16(const uint8_t *p) { return (int64_t)p[0] << 8 | p[1]; }

static inline int64_t be32(const uint8_t *p) {
    return (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

static inline uint64_t be_n(const uint8_t *p, int width) {
    uint64_t acc = 0;
    for (int k = 0; k < width; k++) acc = acc << 8 | p[k];
    return acc;
}

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max0(int64_t a) { return a > 0 ? a : 0; }
static inline int is_tpid(int64_t e) { return e == 0x8100 || e == 0x88A8 || e == 0x9100; }
static inline int is_ext_header(int64_t nh) {
    return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

/* --- buffer checks ------------------------------------------------------------------------------ */

/* The kind of a one-element struct format ("q", "<I", "?"), or -1 for anything else. A byte-order
 * prefix is accepted only when it names this machine's order: the loops read native integers. */
static int format_kind(const char *fmt) {
    if (fmt == NULL) return K_UNSIGNED; /* the buffer protocol's default: unsigned bytes */
    if (*fmt == '@' || *fmt == '=') {
        fmt++;
    } else if (*fmt == '<' || *fmt == '>' || *fmt == '!') {
        int little = *fmt == '<';
        if (little != PY_LITTLE_ENDIAN) return -1;
        fmt++;
    }
    if (fmt[0] == '\0' || fmt[1] != '\0') return -1;
    switch (fmt[0]) {
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n': return K_SIGNED;
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N': return K_UNSIGNED;
    case 'c': return K_BYTES;
    case '?': return K_BOOL;
    default: return -1;
    }
}

/* See _native.h. */
int add_type(PyObject *module, PyTypeObject *type, const char *name) {
    if (PyType_Ready(type) < 0) return -1;
    Py_INCREF(type);
    if (PyModule_AddObject(module, name, (PyObject *)type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

int get_array(PyObject *obj, Py_buffer *view, int kind, Py_ssize_t itemsize, Py_ssize_t n, int writable,
              const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    const char *why = NULL;
    int got = format_kind(view->format);
    if (view->ndim != 1) {
        why = "must be one-dimensional";
    } else if (view->itemsize != itemsize) {
        why = "has the wrong item size";
    } else if (kind == K_BYTES ? (got < 0) : (got != kind)) {
        why = "has the wrong element type";
    } else if (n >= 0 && view->shape[0] != n) {
        why = "has the wrong length";
    }
    if (why != NULL) {
        PyErr_Format(PyExc_ValueError, "%s %s", name, why);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* --- decode_into ---------------------------------------------------------------------------------- */
/* The output arrays, in the field order of the Decoded dataclass. */
#define N_OUT 28
static const struct {
    const char *name;
    int kind;
    Py_ssize_t size;
} OUT_SPEC[N_OUT] = {
    {"error", K_UNSIGNED, 1},    {"src_mac", K_UNSIGNED, 8},  {"dst_mac", K_UNSIGNED, 8},
    {"ethertype", K_SIGNED, 8},  {"vlan", K_SIGNED, 4},       {"l3_off", K_SIGNED, 8},
    {"ip_version", K_UNSIGNED, 1}, {"src_hi", K_UNSIGNED, 8}, {"src_lo", K_UNSIGNED, 8},
    {"dst_hi", K_UNSIGNED, 8},   {"dst_lo", K_UNSIGNED, 8},   {"ip_proto", K_UNSIGNED, 1},
    {"ttl", K_UNSIGNED, 1},      {"df", K_BOOL, 1},           {"fragment", K_BOOL, 1},
    {"frag_nonfirst", K_BOOL, 1}, {"transport", K_UNSIGNED, 1}, {"l4_off", K_SIGNED, 8},
    {"src_port", K_SIGNED, 4},   {"dst_port", K_SIGNED, 4},   {"tcp_flags", K_SIGNED, 4},
    {"tcp_seq", K_SIGNED, 8},    {"tcp_ack", K_SIGNED, 8},    {"tcp_window", K_SIGNED, 4},
    {"tcp_hdr_len", K_SIGNED, 4}, {"pay_off", K_SIGNED, 8},   {"pay_len", K_SIGNED, 8},
    {"pay_wire", K_SIGNED, 8},
};

typedef struct {
    uint8_t *error;
    uint64_t *src_mac, *dst_mac;
    int64_t *ethertype;
    int32_t *vlan;
    int64_t *l3_off;
    uint8_t *ip_version;
    uint64_t *src_hi, *src_lo, *dst_hi, *dst_lo;
    uint8_t *ip_proto, *ttl, *df, *fragment, *frag_nonfirst, *transport;
    int64_t *l4_off;
    int32_t *src_port, *dst_port, *tcp_flags;
    int64_t *tcp_seq, *tcp_ack;
    int32_t *tcp_window, *tcp_hdr_len;
    int64_t *pay_off, *pay_len, *pay_wire;
} Out;

/* Decode packet `i`, whose `cap` bytes start at `p` (cap <= 0: no bytes), into the outputs.
 *
 * This is decode_numpy's sequence of stages applied to one packet; the comments name the NumPy
 * stage. `end` is the end of the meaningful bytes (caplen, lowered by length fields) and never
 * exceeds `cap`; every read of `w` bytes at `x` is preceded by a check `x + w <= end`. */
static void decode_one(const uint8_t *p, int64_t cap, int64_t lt, Out *o, Py_ssize_t i) {
    int err = E_OK;
    uint64_t smac = 0, dmac = 0, shi = 0, slo = 0, dhi = 0, dlo = 0;
    int64_t eth = 0, pos = 0, end = cap, dend = NO_DEND, l4 = 0;
    int32_t vlan = -1;
    int ipv = 0, proto = 0, ttl = 0, df = 0, frag = 0, nonfirst = 0;
    int l2 = lt == LT_ETHERNET || lt == LT_LINUX_SLL || lt == LT_LINUX_SLL2;

    /* link layer */
    switch (lt) {
    case LT_ETHERNET:
        if (14 > end) {
            err = E_LINK_TRUNCATED;
        } else {
            dmac = be_n(p, 6);
            smac = be_n(p + 6, 6);
            eth = be16(p + 12);
            pos = 14;
        }
        break;
    case LT_LINUX_SLL:
        if (16 > end) {
            err = E_LINK_TRUNCATED;
        } else {
            smac = be16(p + 4) == 6 ? be_n(p + 6, 6) : 0; /* address length 6: a MAC */
            eth = be16(p + 14);
            pos = 16;
        }
        break;
    case LT_LINUX_SLL2:
        if (20 > end) {
            err = E_LINK_TRUNCATED;
        } else {
            smac = p[11] == 6 ? be_n(p + 12, 6) : 0;
            eth = be16(p);
            pos = 20;
        }
        break;
    case LT_RAW:
        if (1 > end) {
            err = E_LINK_TRUNCATED;
        } else {
            int version = p[0] >> 4;
            eth = version == 4 ? ETH_IPV4 : version == 6 ? ETH_IPV6 : 0;
            if (eth == 0) err = E_BAD_IP_VERSION;
        }
        break;
    case LT_IPV4:
        eth = ETH_IPV4;
        break;
    case LT_IPV6:
        eth = ETH_IPV6;
        break;
    case LT_NULL:
        if (4 > end) {
            err = E_LINK_TRUNCATED;
        } else {
            /* the writer's byte order is unknown; address families are small, so the order that
             * gives a value < 65536 is the right one */
            int64_t le = (int64_t)((uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]);
            int64_t af = le > 0xFFFF ? be32(p) : le;
            eth = af == 2 ? ETH_IPV4 : (af == 24 || af == 28 || af == 30) ? ETH_IPV6 : 0;
            if (eth == 0) err = E_UNKNOWN_AF;
            pos = 4;
        }
        break;
    default:
        err = E_UNKNOWN_LINKTYPE;
    }

    /* VLAN tags: the outer id is kept; more than MAX_VLAN_TAGS leave a TPID as the EtherType */
    if (l2) {
        for (int k = 0; k < MAX_VLAN_TAGS && err == E_OK && is_tpid(eth); k++) {
            if (pos + 4 > end) {
                err = E_LINK_TRUNCATED;
                break;
            }
            if (vlan < 0) vlan = (int32_t)(be16(p + pos) & 0xFFF);
            eth = be16(p + pos + 2);
            pos += 4;
        }
    }

    /* 802.3 / LLC / SNAP: an Ethernet length field, or SLL protocol 4 (802.2 LLC) */
    if (err == E_OK && ((lt == LT_ETHERNET && eth < 1536) || (l2 && lt != LT_ETHERNET && eth == 4))) {
        if (lt == LT_ETHERNET) { /* the 802.3 length bounds the frame: what follows is padding */
            end = min64(end, pos + eth);
            dend = pos + eth;
        }
        if (pos + 3 > end) {
            err = E_LINK_TRUNCATED;
        } else {
            int dsap = p[pos], ssap = p[pos + 1], ctrl = p[pos + 2];
            int snap = dsap == 0xAA && ssap == 0xAA && ctrl == 3 && pos + 8 <= end;
            eth = LLC_BASE | dsap << 8 | ssap;
            pos += (ctrl & 3) == 3 ? 3 : 4; /* U-format control is one byte, I/S-format two */
            if (snap) {                     /* pos + 5 <= end: checked by `snap` above */
                int64_t oui = be16(p + pos) << 8 | p[pos + 2];
                int64_t pid = be16(p + pos + 3);
                if (oui == 0x00000C) {
                    eth = CISCO_SNAP_BASE | pid;
                    pos += 5;
                } else if (oui == 0) { /* RFC 1042: the PID is an EtherType, decoding goes on */
                    eth = pid;
                    pos += 5;
                }
            }
        }
    }

    /* IPv4 */
    if (err == E_OK && eth == ETH_IPV4) {
        if (pos + 20 > end) {
            err = E_IP_TRUNCATED;
        } else {
            const uint8_t *h = p + pos;
            int64_t ihl = (int64_t)(h[0] & 0xF) * 4, total = be16(h + 2);
            if (total == 0) total = end - pos; /* 0: TSO/LSO capture, use caplen */
            if (h[0] >> 4 != 4) {
                err = E_BAD_IP_VERSION;
            } else if (ihl < 20) {
                err = E_BAD_IHL;
            } else if (total < ihl) {
                err = E_BAD_IP_LENGTH;
            } else {
                int64_t fl = be16(h + 6);
                ipv = 4;
                df = (fl & 0x4000) != 0;
                frag = (fl & 0x2000) != 0 || (fl & 0x1FFF) != 0;
                nonfirst = (fl & 0x1FFF) != 0;
                ttl = h[8];
                proto = h[9];
                slo = V4_MAPPED | (uint64_t)be32(h + 12);
                dlo = V4_MAPPED | (uint64_t)be32(h + 16);
                end = min64(end, pos + total);
                dend = min64(dend, pos + total);
                l4 = pos + ihl;
                if (l4 > end) err = E_IP_TRUNCATED; /* options cut by the snap length */
            }
        }
    }

    /* IPv6 and its extension headers */
    if (err == E_OK && eth == ETH_IPV6) {
        if (pos + 40 > end) {
            err = E_IP_TRUNCATED;
        } else if (p[pos] >> 4 != 6) {
            err = E_BAD_IP_VERSION;
        } else {
            const uint8_t *h = p + pos;
            int64_t plen = be16(h + 4);
            ipv = 6;
            ttl = h[7];
            shi = be_n(h + 8, 8);
            slo = be_n(h + 16, 8);
            dhi = be_n(h + 24, 8);
            dlo = be_n(h + 32, 8);
            if (plen != 0) { /* 0: jumbogram or TSO capture, bounded by caplen only */
                end = min64(end, pos + 40 + plen);
                dend = min64(dend, pos + 40 + plen);
            }
            l4 = pos + 40;
            proto = h[6];
            if (is_ext_header(proto)) {
                int more = 1;
                for (int k = 0; k < MAX_EXT_HEADERS && more; k++) {
                    if (l4 + 8 > end) { /* every extension header is at least 8 bytes */
                        err = E_IPV6_EXT;
                        break;
                    }
                    const uint8_t *e = p + l4;
                    int64_t hlen = proto == 44 ? 8 : proto == 51 ? ((int64_t)e[1] + 2) * 4 : ((int64_t)e[1] + 1) * 8;
                    if (proto == 44) {
                        frag = 1;
                        if ((be16(e + 2) >> 3) != 0) nonfirst = 1;
                    }
                    proto = e[0];
                    l4 += hlen;
                    if (l4 > end) {
                        err = E_IPV6_EXT;
                        break;
                    }
                    /* a non-first fragment carries no further headers, only fragment data */
                    more = is_ext_header(proto) && !nonfirst;
                }
                if (err == E_OK && more) err = E_IPV6_EXT; /* still more headers after the limit */
            }
        }
    }

    /* transport */
    int isip = err == E_OK && ipv != 0;
    int transport = T_L2;
    if (isip) {
        transport = T_OTHER;
        if (!nonfirst) {
            if (proto == 6) transport = T_TCP;
            else if (proto == 17) transport = T_UDP;
            else if (proto == 1 && ipv == 4) transport = T_ICMP;
            else if (proto == 58 && ipv == 6) transport = T_ICMP6;
        }
    }
    int32_t sport = 0, dport = 0, flags = 0, win = 0, thl = 0;
    int64_t seq = 0, ack = 0;
    int64_t pay_off = isip ? l4 : pos; /* non-IP: the frame after the L2 header */

    if (transport == T_TCP) {
        if (l4 + 20 > end) {
            err = E_L4_TRUNCATED;
        } else {
            const uint8_t *h = p + l4;
            int64_t doff = (int64_t)(h[12] >> 4) * 4;
            /* options cut by the snap length are fine (no payload then); beyond the IP length is not */
            int64_t declared = dend == NO_DEND ? end : dend;
            if (doff < 20 || l4 + doff > declared) {
                err = E_BAD_TCP_OFFSET;
            } else {
                sport = (int32_t)be16(h);
                dport = (int32_t)be16(h + 2);
                seq = be32(h + 4);
                ack = be32(h + 8);
                flags = (int32_t)((h[12] & 1) << 8 | h[13]);
                win = (int32_t)be16(h + 14);
                thl = (int32_t)doff;
                pay_off = l4 + doff;
            }
        }
    } else if (transport == T_UDP) {
        if (l4 + 8 > end) {
            err = E_L4_TRUNCATED;
        } else {
            const uint8_t *h = p + l4;
            int64_t ulen = be16(h + 4);
            sport = (int32_t)be16(h);
            dport = (int32_t)be16(h + 2);
            if (ulen >= 8) {
                end = min64(end, l4 + ulen);
                dend = min64(dend, l4 + ulen);
            }
            pay_off = l4 + 8;
        }
    } else if ((transport == T_ICMP || transport == T_ICMP6) && l4 + 4 > end) {
        err = E_L4_TRUNCATED;
    }

    int64_t pay_len = 0, pay_wire = 0;
    if (err != E_OK) {
        transport = T_L2;
        sport = dport = 0;
    } else {
        pay_len = max0(end - pay_off);
        pay_wire = dend == NO_DEND ? pay_len : max0(dend - pay_off);
    }

    o->error[i] = (uint8_t)err;
    o->src_mac[i] = smac;
    o->dst_mac[i] = dmac;
    o->ethertype[i] = eth;
    o->vlan[i] = vlan;
    o->l3_off[i] = pos;
    o->ip_version[i] = (uint8_t)ipv;
    o->src_hi[i] = shi;
    o->src_lo[i] = slo;
    o->dst_hi[i] = dhi;
    o->dst_lo[i] = dlo;
    o->ip_proto[i] = (uint8_t)proto;
    o->ttl[i] = (uint8_t)ttl;
    o->df[i] = (uint8_t)df;
    o->fragment[i] = (uint8_t)frag;
    o->frag_nonfirst[i] = (uint8_t)nonfirst;
    o->transport[i] = (uint8_t)transport;
    o->l4_off[i] = l4;
    o->src_port[i] = sport;
    o->dst_port[i] = dport;
    o->tcp_flags[i] = flags;
    o->tcp_seq[i] = seq;
    o->tcp_ack[i] = ack;
    o->tcp_window[i] = win;
    o->tcp_hdr_len[i] = thl;
    o->pay_off[i] = pay_off;
    o->pay_len[i] = pay_len;
    o->pay_wire[i] = pay_wire;
}

PyDoc_STRVAR(decode_into_doc,
"decode_into(data, offset, caplen, linktype, *outputs) -> None\n\n"
"Decode every packet of a batch into 28 preallocated arrays, in Decoded's field order.\n"
"data: uint8 bytes of the batch; offset int64, caplen int32, linktype int32: one per packet.\n"
"Raises ValueError for arrays of the wrong type or length, or a packet outside data.");

static PyObject *decode_into(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4 + N_OUT) {
        PyErr_Format(PyExc_TypeError, "decode_into takes %d arguments, not %zd", 4 + N_OUT, nargs);
        return NULL;
    }
    Py_buffer data, off, cap, lt, outs[N_OUT];
    int held = 0; /* outputs acquired so far */
    PyObject *result = NULL;
    if (get_array(args[0], &data, K_BYTES, 1, -1, 0, "data") < 0) return NULL;
    if (get_array(args[1], &off, K_SIGNED, 8, -1, 0, "offset") < 0) goto release_data;
    Py_ssize_t n = off.shape[0];
    if (get_array(args[2], &cap, K_SIGNED, 4, n, 0, "caplen") < 0) goto release_off;
    if (get_array(args[3], &lt, K_SIGNED, 4, n, 0, "linktype") < 0) goto release_cap;
    for (; held < N_OUT; held++) {
        if (get_array(args[4 + held], &outs[held], OUT_SPEC[held].kind, OUT_SPEC[held].size, n, 1,
                      OUT_SPEC[held].name) < 0)
            goto release_all;
    }
    const uint8_t *bytes = (const uint8_t *)data.buf;
    const int64_t *offset = (const int64_t *)off.buf;
    const int32_t *caplen = (const int32_t *)cap.buf;
    const int32_t *linktype = (const int32_t *)lt.buf;
    int64_t total = (int64_t)data.len;
    /* Every packet must lie inside the data before any is decoded: the decode itself then only
     * needs to stay inside each packet. A packet of no bytes reads nothing, wherever it points. */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (caplen[i] > 0 && (offset[i] < 0 || offset[i] > total - caplen[i])) {
            PyErr_Format(PyExc_ValueError, "packet %zd (offset %lld, caplen %d) lies outside the batch's %lld bytes",
                         i, (long long)offset[i], (int)caplen[i], (long long)total);
            goto release_all;
        }
    }
    Out o = {
        outs[0].buf, outs[1].buf, outs[2].buf, outs[3].buf, outs[4].buf, outs[5].buf, outs[6].buf,
        outs[7].buf, outs[8].buf, outs[9].buf, outs[10].buf, outs[11].buf, outs[12].buf, outs[13].buf,
        outs[14].buf, outs[15].buf, outs[16].buf, outs[17].buf, outs[18].buf, outs[19].buf, outs[20].buf,
        outs[21].buf, outs[22].buf, outs[23].buf, outs[24].buf, outs[25].buf, outs[26].buf, outs[27].buf,
    };
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t c = caplen[i];
        if (i + DECODE_PREFETCH < n && caplen[i + DECODE_PREFETCH] > 0) {
            const uint8_t *next = bytes + offset[i + DECODE_PREFETCH];
            __builtin_prefetch(next);
            __builtin_prefetch(next + 64);
        }
        decode_one(c > 0 ? bytes + offset[i] : bytes, c, linktype[i], &o, i);
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
release_all:
    while (held > 0) PyBuffer_Release(&outs[--held]);
    PyBuffer_Release(&lt);
release_cap:
    PyBuffer_Release(&cap);
release_off:
    PyBuffer_Release(&off);
release_data:
    PyBuffer_Release(&data);
    return result;
}

/* --- walk_pcap ------------------------------------------------------------------------------------ */
PyDoc_STRVAR(walk_pcap_doc,
"walk_pcap(buf, pos, end, big_endian, max_caplen, starts, headers) -> (count, next_pos, status)\n\n"
"Walk classic pcap records of buf[pos:end] (16-byte headers, captured length at +8), writing\n"
"each complete record's start into the int64 array starts, at most len(starts) of them, and its\n"
"four header fields (seconds, sub-seconds, captured and original length) into the int64 array\n"
"headers (4 * len(starts) long, record after record).\n"
"status 0: starts is full; 1: the record at next_pos is incomplete (refill and call again);\n"
"2: the record at next_pos has a captured length > max_caplen (a corrupt file).");

/* One 32-bit field of a record header in the file's byte order. */
static inline uint32_t u32_order(const uint8_t *c, int big) {
    return big ? (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3]
               : (uint32_t)c[3] << 24 | (uint32_t)c[2] << 16 | (uint32_t)c[1] << 8 | c[0];
}

static PyObject *walk_pcap(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 7) {
        PyErr_Format(PyExc_TypeError, "walk_pcap takes 7 arguments, not %zd", nargs);
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    if (end == -1 && PyErr_Occurred()) return NULL;
    int big = PyObject_IsTrue(args[3]);
    if (big < 0) return NULL;
    long long max_caplen = PyLong_AsLongLong(args[4]);
    if (max_caplen == -1 && PyErr_Occurred()) return NULL;
    Py_buffer buf, out, hdr;
    if (get_array(args[0], &buf, K_BYTES, 1, -1, 0, "buf") < 0) return NULL;
    if (get_array(args[5], &out, K_SIGNED, 8, -1, 1, "starts") < 0) goto release_buf;
    Py_ssize_t max_records = out.shape[0];
    if (get_array(args[6], &hdr, K_SIGNED, 8, 4 * max_records, 1, "headers") < 0) goto release_out;
    if (pos < 0 || end < pos || end > buf.len) {
        PyErr_Format(PyExc_ValueError, "walk_pcap: need 0 <= pos <= end <= len(buf), got %zd, %zd, %zd", pos,
                     end, buf.len);
        goto release_hdr;
    }
    const uint8_t *b = (const uint8_t *)buf.buf;
    int64_t *starts = (int64_t *)out.buf, *fields = (int64_t *)hdr.buf;
    Py_ssize_t count = 0;
    int status = WALK_FULL;
    Py_BEGIN_ALLOW_THREADS
    while (count < max_records) {
        if (end - pos < RECORD_HEADER_LEN) { /* written as a difference: no overflow near the top */
            status = WALK_INCOMPLETE;
            break;
        }
        const uint8_t *h = b + pos;
        uint32_t cl = u32_order(h + 8, big);
        if ((long long)cl > max_caplen) {
            status = WALK_CORRUPT;
            break;
        }
        if (end - pos - RECORD_HEADER_LEN < (Py_ssize_t)cl) {
            status = WALK_INCOMPLETE;
            break;
        }
        /* The header is in cache now; gathering it later from Python would miss again. */
        fields[4 * count] = u32_order(h, big);
        fields[4 * count + 1] = u32_order(h + 4, big);
        fields[4 * count + 2] = cl;
        fields[4 * count + 3] = u32_order(h + 12, big);
        starts[count++] = pos;
        pos += RECORD_HEADER_LEN + (Py_ssize_t)cl;
        {
            Py_ssize_t ahead = WALK_PREFETCH * (RECORD_HEADER_LEN + (Py_ssize_t)cl);
            if (end - pos > ahead) __builtin_prefetch(b + pos + ahead);
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&hdr);
    PyBuffer_Release(&out);
    PyBuffer_Release(&buf);
    return Py_BuildValue("(nni)", count, pos, status);
release_hdr:
    PyBuffer_Release(&hdr);
release_out:
    PyBuffer_Release(&out);
release_buf:
    PyBuffer_Release(&buf);
    return NULL;
}

/* --- SYN memo key ----------------------------------------------------------------------------------- */
PyDoc_STRVAR(syn_key_doc,
"syn_key(pkt, l3, l4, ip_version, syn_ack) -> tuple\n\n"
"The memo key of a SYN/SYN-ACK: exactly the tuple engine._syn_key builds in Python (everything\n"
"_tcp_traits reads, the per-connection values reduced to whether they are zero, the timestamp\n"
"option's values masked). pkt is the captured frame; the TCP header must be in it.");

static PyObject *syn_key(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "syn_key takes 5 arguments, not %zd", nargs);
        return NULL;
    }
    Py_ssize_t l3 = PyLong_AsSsize_t(args[1]);
    if (l3 == -1 && PyErr_Occurred()) return NULL;
    Py_ssize_t l4 = PyLong_AsSsize_t(args[2]);
    if (l4 == -1 && PyErr_Occurred()) return NULL;
    long ipv = PyLong_AsLong(args[3]);
    if (ipv == -1 && PyErr_Occurred()) return NULL;
    int syn_ack = PyObject_IsTrue(args[4]);
    if (syn_ack < 0) return NULL;
    Py_buffer buf;
    if (PyObject_GetBuffer(args[0], &buf, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *p = (const uint8_t *)buf.buf;
    Py_ssize_t n = buf.len;
    PyObject *ip = NULL, *opts = NULL, *result = NULL;
    if (l3 < 0 || l4 < 0 || l4 > n - 20) {
        PyErr_SetString(PyExc_ValueError, "syn_key: the TCP header is not in the packet");
        goto done;
    }
    if (ipv == 4 && n >= l3 + 20) {
        int ident = p[l3 + 4] | p[l3 + 5];
        ip = Py_BuildValue("(iiNi)", p[l3 + 1] & 3, p[l3 + 6] & 0xC0, PyBool_FromLong(ident != 0), p[l3 + 8]);
    } else if (ipv == 6 && n >= l3 + 40) {
        ip = Py_BuildValue("(ii)", p[l3 + 1] & 0x30, p[l3 + 7]);
    } else {
        ip = PyTuple_New(0);
    }
    if (ip == NULL) goto done;
    const uint8_t *t = p + l4;
    uint32_t seq = (uint32_t)be32(t + 4), ack = (uint32_t)be32(t + 8);
    int off = t[12], flags = t[13], win = (int)be16(t + 14), urg = (int)be16(t + 18);
    /* options: pkt[l4 + 20 : l4 + (off >> 4) * 4], clamped to the packet as a slice is */
    Py_ssize_t o_end = l4 + (Py_ssize_t)(off >> 4) * 4;
    if (o_end > n) o_end = n;
    Py_ssize_t olen = o_end - (l4 + 20);
    if (olen < 0) olen = 0;
    opts = PyBytes_FromStringAndSize((const char *)(p + l4 + 20), olen);
    if (opts == NULL) goto done;
    /* the timestamp values, walked as _tcp_traits walks the options (_mask_timestamps) */
    uint8_t *o = (uint8_t *)PyBytes_AS_STRING(opts);
    Py_ssize_t i = 0;
    while (i < olen) {
        uint8_t kind = o[i];
        if (kind == 0) break;
        if (kind == 1) {
            i += 1;
            continue;
        }
        if (i + 1 >= olen || o[i + 1] < 2 || i + o[i + 1] > olen) break;
        uint8_t ln = o[i + 1];
        if (kind == 8 && ln == 10) {
            for (int half = 0; half < 2; half++) {
                uint8_t *v = o + i + 2 + 4 * half;
                int any = v[0] | v[1] | v[2] | v[3];
                v[0] = any ? 1 : 0;
                v[1] = v[2] = v[3] = 0;
            }
        }
        i += ln;
    }
    result = Py_BuildValue("(lNnONNiiiNO)", ipv, PyBool_FromLong(syn_ack), l4 - l3, ip,
                           PyBool_FromLong(seq != 0), PyBool_FromLong(ack != 0), off, flags, win,
                           PyBool_FromLong(urg != 0), opts);
done:
    Py_XDECREF(ip);
    Py_XDECREF(opts);
    PyBuffer_Release(&buf);
    return result;
}

/* --- module ---------------------------------------------------------------------------------------- */
static PyMethodDef methods[] = {
    {"decode_into", (PyCFunction)(void (*)(void))decode_into, METH_FASTCALL, decode_into_doc},
    {"walk_pcap", (PyCFunction)(void (*)(void))walk_pcap, METH_FASTCALL, walk_pcap_doc},
    {"syn_key", (PyCFunction)(void (*)(void))syn_key, METH_FASTCALL, syn_key_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "wardwatch.sensor._native",
    "The sensor's per-packet loops in C (header decode, pcap record walk, SYN memo key); see _native.c.", -1, methods,
    NULL, NULL, NULL, NULL,
};

/* Add one integer to the CONSTANTS dict; -1 on failure. */
static int add_const(PyObject *d, const char *name, long long value) {
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL) return -1;
    int rc = PyDict_SetItemString(d, name, v);
    Py_DECREF(v);
    return rc;
}

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    PyObject *c = PyDict_New();
    if (c == NULL) goto fail;
    /* What decode.py must agree with: the test suite compares these with its own constants. */
    if (add_const(c, "T_L2", T_L2) < 0 || add_const(c, "T_TCP", T_TCP) < 0 || add_const(c, "T_UDP", T_UDP) < 0 ||
        add_const(c, "T_ICMP", T_ICMP) < 0 || add_const(c, "T_ICMP6", T_ICMP6) < 0 ||
        add_const(c, "T_OTHER", T_OTHER) < 0 || add_const(c, "E_OK", E_OK) < 0 ||
        add_const(c, "E_LINK_TRUNCATED", E_LINK_TRUNCATED) < 0 ||
        add_const(c, "E_UNKNOWN_LINKTYPE", E_UNKNOWN_LINKTYPE) < 0 ||
        add_const(c, "E_BAD_IP_VERSION", E_BAD_IP_VERSION) < 0 ||
        add_const(c, "E_IP_TRUNCATED", E_IP_TRUNCATED) < 0 || add_const(c, "E_BAD_IHL", E_BAD_IHL) < 0 ||
        add_const(c, "E_BAD_IP_LENGTH", E_BAD_IP_LENGTH) < 0 || add_const(c, "E_IPV6_EXT", E_IPV6_EXT) < 0 ||
        add_const(c, "E_L4_TRUNCATED", E_L4_TRUNCATED) < 0 ||
        add_const(c, "E_BAD_TCP_OFFSET", E_BAD_TCP_OFFSET) < 0 || add_const(c, "E_UNKNOWN_AF", E_UNKNOWN_AF) < 0 ||
        add_const(c, "MAX_VLAN_TAGS", MAX_VLAN_TAGS) < 0 || add_const(c, "MAX_EXT_HEADERS", MAX_EXT_HEADERS) < 0 ||
        add_const(c, "LLC_BASE", LLC_BASE) < 0 || add_const(c, "CISCO_SNAP_BASE", CISCO_SNAP_BASE) < 0 ||
        add_const(c, "V4_MAPPED", (long long)V4_MAPPED) < 0 || add_const(c, "LT_NULL", LT_NULL) < 0 ||
        add_const(c, "LT_ETHERNET", LT_ETHERNET) < 0 || add_const(c, "LT_RAW", LT_RAW) < 0 ||
        add_const(c, "LT_LINUX_SLL", LT_LINUX_SLL) < 0 || add_const(c, "LT_IPV4", LT_IPV4) < 0 ||
        add_const(c, "LT_IPV6", LT_IPV6) < 0 || add_const(c, "LT_LINUX_SLL2", LT_LINUX_SLL2) < 0)
        goto fail_dict;
    if (PyModule_AddObject(m, "CONSTANTS", c) < 0) goto fail_dict;
    if (wardwatch_sightings_init(m) < 0 || wardwatch_meter_init(m) < 0 || wardwatch_uid_init(m) < 0 ||
        wardwatch_conversations_init(m) < 0 || wardwatch_flowtable_init(m) < 0)
        goto fail;
    return m;
fail_dict:
    Py_DECREF(c);
fail:
    Py_DECREF(m);
    return NULL;
}
