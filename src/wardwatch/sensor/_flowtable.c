/* wardwatch.sensor._native, part: FlowTable, the flow meter's table and segment loop (ADR 012).
 *
 * The C twin of the per-segment half of wardwatch.sensor.flows.meter.FlowMeter (the reference):
 * after the per-batch set-up (_meter.c: meter_keys, meter_view) has sorted a batch's packets by
 * flow, FlowMeter walks the runs of one key ("segments"): it looks the flow up, ends it when it
 * timed out, creates it when new, adds the counts, notes TCP FIN/RST and roles, splits a segment
 * at the active timeout or after a TCP close, and calls the engine's hooks. On the hospital
 * capture that loop, with the flow objects it makes, was about a sixth of the engine's CPU; on a
 * scan, with a new flow per segment, more. FlowTable does the same with no Python code but the
 * hooks: on_update(flow, start, end) per applied run of packets and on_end(flow, reason) per ended
 * flow, called in the same order with the same arguments (tests/unit/flows/test_flow_table.py
 * holds the two equal under Hypothesis, and every fixture capture runs through both).
 *
 * Flows are FlowCore objects: the meter's FlowState fields as C members, readable from Python
 * under the same names (the engine's per-flow state `ext` is the one writable member), made as
 * instances of a subclass the caller names (meter.py adds the methods `record` and
 * `server_side`, shared with the Python FlowState). An IPv4 flow's address texts and uid are made
 * here (the texts of recent addresses are shared, as the reference's cached format_ip shares
 * them); an L2 or IPv6 flow asks the caller's `texts(key, first_ns)` for them.
 *
 * Tables. One LRU-ordered hash index per idle class (TCP, UDP, other; _lru.h), as the reference
 * keeps one ordered dict per class: the front is the least recently updated flow, so idle sweeps
 * stop at the first live flow and eviction takes the oldest front. After each batch the flows
 * it touched are renewed in order of their last packet (a stable sort, as the reference's).
 * Time arithmetic is done in 128 bits: the reference's integers do not overflow either.
 *
 * The hooks may not call the table (RuntimeError); their exceptions propagate, after the table
 * has been left consistent (the flow being ended is out of the table, touched flows renewed).
 *
 * With set_streams, the table also walks TCP packets itself and keeps their stream prefixes, as
 * the engine's Python walk does (see "TCP streams" below).
 */
#include "_native.h"
#include "_lru.h"
#include "_meter.h"
#include <structmember.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NCLS 3 /* idle classes */
/* recent IPv4 address texts, direct-mapped */
#define IPC_BITS 12
#define HEAD_CAP 64

typedef __int128 wide;

/* --- FlowCore ----------------------------------------------------------------------------------- */
typedef struct {
    PyObject_HEAD
    uint64_t k[5];
    long long id, first_ns, last_ns, close_ns, touch;
    long long pk_lo, pk_hi, by_lo, by_hi;
    unsigned long long a_mac, b_mac, ethertype;
    int tcode, cls, server, lo_port, hi_port;
    char a_is_lo, server_final, fin_lo, fin_hi;
    PyObject *transport, *vlan, *lo_ip, *hi_ip, *uid, *ext;
    uint32_t entry; /* its entry in the table of its class, NIL once ended */
    /* TCP, when the table keeps the streams (set_streams; engine.py: _TcpExt is the reference):
     * per direction (0: from lo) the ISN + 1 of its first SYN, whether it is done (its prefix
     * handed over or dropped), and its open stream */
    uint32_t isn[2];
    char has_isn[2], done[2];
    struct Dir *dir[2];
} Flow;

static void dir_free(struct Dir *d);

static int flow_traverse(Flow *f, visitproc visit, void *arg) {
    Py_VISIT(f->ext);
    Py_VISIT(f->transport);
    return 0;
}

static int flow_clear(Flow *f) {
    Py_CLEAR(f->ext);
    Py_CLEAR(f->transport);
    return 0;
}

static void flow_dealloc(Flow *f) {
    PyObject_GC_UnTrack(f);
    flow_clear(f);
    /* a live flow's streams are freed by its table (release_streams); these are never linked */
    for (int q = 0; q < 2; q++) dir_free(f->dir[q]);
    Py_CLEAR(f->vlan);
    Py_CLEAR(f->lo_ip);
    Py_CLEAR(f->hi_ip);
    Py_CLEAR(f->uid);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyObject *flow_key(Flow *f, void *closure) {
    (void)closure;
    PyObject *key = PyTuple_New(5);
    if (key == NULL) return NULL;
    for (int q = 0; q < 5; q++) {
        PyObject *v = PyLong_FromUnsignedLongLong(f->k[q]);
        if (v == NULL) {
            Py_DECREF(key);
            return NULL;
        }
        PyTuple_SET_ITEM(key, q, v);
    }
    return key;
}

#define RO(name, type, field, doc) {name, type, offsetof(Flow, field), READONLY, doc}
static PyMemberDef flow_members[] = {
    RO("id", T_LONGLONG, id, "Number of the flow in its table (1, 2, ...)."),
    RO("first_ns", T_LONGLONG, first_ns, "Timestamp of the first packet."),
    RO("last_ns", T_LONGLONG, last_ns, "Timestamp of the last packet so far."),
    RO("close_ns", T_LONGLONG, close_ns, "When the TCP close (both FINs, or a RST) was seen, else -1."),
    RO("touch", T_LONGLONG, touch, "The table's tick when the flow was last renewed."),
    RO("pk_lo", T_LONGLONG, pk_lo, "Packets from the lower endpoint."),
    RO("pk_hi", T_LONGLONG, pk_hi, "Packets from the higher endpoint."),
    RO("by_lo", T_LONGLONG, by_lo, "Bytes from the lower endpoint."),
    RO("by_hi", T_LONGLONG, by_hi, "Bytes from the higher endpoint."),
    RO("a_mac", T_ULONGLONG, a_mac, "Source MAC of the first packet (0: none)."),
    RO("b_mac", T_ULONGLONG, b_mac, "Destination MAC of the first packet."),
    RO("ethertype", T_ULONGLONG, ethertype, "EtherType of an L2 flow, else 0."),
    RO("tcode", T_INT, tcode, "Transport code (decode.py: T_*)."),
    RO("cls", T_INT, cls, "Idle class: 0 TCP, 1 UDP, 2 other."),
    RO("server", T_INT, server, "0: the lower side, 1: the higher, -1: unknown (handshake roles)."),
    RO("lo_port", T_INT, lo_port, "Port of the lower endpoint."),
    RO("hi_port", T_INT, hi_port, "Port of the higher endpoint."),
    RO("a_is_lo", T_BOOL, a_is_lo, "Whether the first packet came from the lower endpoint."),
    RO("server_final", T_BOOL, server_final, "Whether a SYN-ACK fixed the server."),
    RO("fin_lo", T_BOOL, fin_lo, "Whether the lower side sent FIN."),
    RO("fin_hi", T_BOOL, fin_hi, "Whether the higher side sent FIN."),
    RO("transport", T_OBJECT, transport, "The model's Transport."),
    RO("vlan", T_OBJECT, vlan, "VLAN id or None."),
    RO("lo_ip", T_OBJECT, lo_ip, "Text of the lower IP, None for L2."),
    RO("hi_ip", T_OBJECT, hi_ip, "Text of the higher IP, None for L2."),
    RO("uid", T_OBJECT, uid, "The flow's uid (meter.py: flow_uid)."),
    {"ext", T_OBJECT, offsetof(Flow, ext), 0, "Per-flow state of the engine (None at first)."},
    {NULL, 0, 0, 0, NULL},
};
#undef RO

static PyGetSetDef flow_getset[] = {
    {"key", (getter)flow_key, NULL, "The flow key: five ints (meter.py).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(flow_doc,
"The fields of a live flow, made by FlowTable only (as instances of the subclass it was given):\n"
"the C twin of wardwatch.sensor.flows.meter.FlowState's data.");

static PyTypeObject FlowType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wardwatch.sensor._native.FlowCore",
    .tp_basicsize = sizeof(Flow),
    .tp_dealloc = (destructor)flow_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = flow_doc,
    .tp_traverse = (traverseproc)flow_traverse,
    .tp_clear = (inquiry)flow_clear,
    .tp_members = flow_members,
    .tp_getset = flow_getset,
};

/* --- FlowTable ---------------------------------------------------------------------------------- */
typedef struct {
    Links links; /* first: the index's part */
    uint64_t k[5];
    Flow *flow; /* owned */
} Entry;

typedef struct {
    wide deadline;
    long long id;
    uint64_t k[5];
} Closing;

enum { R_IDLE, R_ACTIVE, R_CLOSE, R_EVICT, R_EOC, N_REASONS };
static const char *const REASONS[N_REASONS] = {"idle", "active", "tcp-close", "eviction", "end-of-capture"};

typedef struct {
    PyObject_HEAD
    Lru lru[NCLS];
    uint64_t seed;
    long long idle[NCLS], active, grace, max_flows, next_id, tick;
    long long count[N_REASONS], created;
    PyTypeObject *flow_type;
    PyObject *transports[N_TRANSPORTS];
    char heads[N_TRANSPORTS][HEAD_CAP];
    int head_len[N_TRANSPORTS];
    PyObject *texts;
    PyObject *convs;   /* a ConversationTable the ended flows go to, or NULL */
    PyObject *evicted; /* list: the rows it evicted since the last take_evicted() */
    uint8_t service[65536 / 8]; /* SERVICE_PORTS as a bitmap (meter.py: port_server) */
    PyObject *reasons[N_REASONS];
    Closing *cl; /* a ring */
    size_t cl_head, cl_len, cl_cap;
    Flow **touched;
    size_t nt, tcap;
    struct {
        uint32_t ip;
        PyObject *text;
    } ipc[1 << IPC_BITS];
    struct {
        PyObject *syn, *decide, *handoff; /* NULL: the streams are off (on_update gets TCP too) */
        Py_ssize_t limit;
        long long max, open, evicted;
        struct Dir *head, *tail; /* open streams, oldest first (engine.py: SensorEngine._streams) */
    } st;
    int busy;
} Table;

static inline Entry *entry_at(const Lru *l, uint32_t e) { return (Entry *)lru_at(l, e); }

static inline int class_of(int tcode) { return tcode == T_TCP ? 0 : tcode == T_UDP ? 1 : 2; }

static inline uint64_t key_hash(uint64_t seed, const uint64_t *k) {
    uint64_t h = mix64(seed ^ k[0]);
    for (int q = 1; q < 5; q++) h = mix64(h ^ k[q]);
    return h;
}

static Flow *find(const Lru *l, uint64_t h, const uint64_t *k) {
    if (l->slots == NULL) return NULL;
    for (uint64_t j = h & l->mask;; j = (j + 1) & l->mask) {
        uint32_t e = l->slots[j];
        if (e == NIL) return NULL;
        const Entry *x = entry_at(l, e);
        if (x->links.hash == h && memcmp(x->k, k, sizeof x->k) == 0) return x->flow;
    }
}

static long long live_count(const Table *t) {
    return (long long)t->lru[0].count + t->lru[1].count + t->lru[2].count;
}

/* Why a flow ends at time `tt` (meter.py: FlowMeter._why). */
static int why(const Table *t, const Flow *f, long long tt) {
    wide idle = t->idle[f->cls];
    if (f->close_ns >= 0 && ((wide)tt > (wide)f->close_ns + t->grace || (wide)tt - f->last_ns > idle)) return R_CLOSE;
    if ((wide)tt - f->last_ns > idle) return R_IDLE;
    return R_ACTIVE;
}

/* Whether a packet at `t0` starts a new flow instead of continuing `f`. */
static int timed_out(const Table *t, const Flow *f, long long t0) {
    return (wide)t0 - f->last_ns > t->idle[f->cls] ||
           (f->close_ns >= 0 && (wide)t0 > (wide)f->close_ns + t->grace) || (wide)t0 - f->first_ns >= t->active;
}

static PyObject *call2(PyObject *fn, PyObject *a, PyObject *b) {
    PyObject *args[2] = {a, b};
    return PyObject_Vectorcall(fn, args, 2, NULL);
}

static inline int is_service(const Table *t, int port) { return (t->service[port >> 3] >> (port & 7)) & 1; }

/* meter.py: port_server (and FlowState.server_side when the handshake fixed nothing). */
static int port_server(const Table *t, int lo, int hi) {
    int lo_wk = 0 < lo && lo < 1024, hi_wk = 0 < hi && hi < 1024;
    if (lo_wk && hi_wk) return lo == hi ? -1 : lo < hi ? 0 : 1;
    if (lo_wk != hi_wk) return lo_wk ? 0 : 1;
    int lo_sv = is_service(t, lo), hi_sv = is_service(t, hi);
    if (lo_sv != hi_sv) return lo_sv ? 0 : 1;
    return -1;
}

static inline int text_or_none(PyObject *o) { return o == Py_None || PyUnicode_CheckExact(o); }

/* An ended flow into its conversation (engine.py: SensorEngine._conversation, the reference):
 * the server is the known side, else the side that did not send the first packet. */
static int add_conversation(Table *t, const Flow *f) {
    int side = f->server >= 0 ? f->server : (f->tcode == T_TCP || f->tcode == T_UDP) ? port_server(t, f->lo_port, f->hi_port) : -1;
    uint64_t lo_mac = f->a_is_lo ? f->a_mac : f->b_mac, hi_mac = f->a_is_lo ? f->b_mac : f->a_mac;
    int server_lo = side >= 0 ? side == 0 : !f->a_is_lo;
    if (!text_or_none(f->lo_ip) || !text_or_none(f->hi_ip)) {
        PyErr_SetString(PyExc_TypeError, "FlowTable: a flow's IP texts must be str or None");
        return -1;
    }
    long long port = f->tcode == T_L2 ? (long long)f->ethertype : server_lo ? f->lo_port : f->hi_port;
    PyObject *row = server_lo ? wardwatch_conversation_add(t->convs, f->hi_ip, hi_mac, f->lo_ip, lo_mac, f->tcode, port,
                                                           f->first_ns, f->last_ns, f->pk_lo + f->pk_hi, f->by_lo + f->by_hi)
                              : wardwatch_conversation_add(t->convs, f->lo_ip, lo_mac, f->hi_ip, hi_mac, f->tcode, port,
                                                           f->first_ns, f->last_ns, f->pk_lo + f->pk_hi, f->by_lo + f->by_hi);
    if (row == NULL) return -1;
    int r = row == Py_None ? 0 : PyList_Append(t->evicted, row);
    Py_DECREF(row);
    return r;
}

/* Take `f` out of its table, add it to its conversation (when the table feeds one) and call
 * on_end(f, reason); the table's reference goes. */
static int end_streams(Table *t, Flow *f);

static int end_flow(Table *t, Flow *f, int reason, PyObject *on_end) {
    lru_remove(&t->lru[f->cls], f->entry);
    f->entry = NIL;
    t->count[reason]++;
    if (t->st.handoff != NULL && end_streams(t, f) < 0) {
        Py_DECREF(f);
        return -1;
    }
    if (t->convs != NULL && add_conversation(t, f) < 0) {
        Py_DECREF(f);
        return -1;
    }
    PyObject *r = call2(on_end, (PyObject *)f, t->reasons[reason]);
    Py_DECREF(f);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

/* End the least recently renewed flow of all classes (meter.py: FlowMeter._evict). */
static int evict(Table *t, PyObject *on_end) {
    Flow *victim = NULL;
    for (int c = 0; c < NCLS; c++) {
        if (t->lru[c].count == 0) continue;
        Flow *f = entry_at(&t->lru[c], t->lru[c].head)->flow;
        if (victim == NULL || f->touch < victim->touch) victim = f;
    }
    return victim == NULL ? 0 : end_flow(t, victim, R_EVICT, on_end);
}

/* The text of an IPv4 address, shared with recent flows of it. New reference, or NULL. */
static PyObject *ip4_text(Table *t, uint32_t ip) {
    size_t slot = (uint32_t)(ip * 0x9E3779B1u) >> (32 - IPC_BITS);
    if (t->ipc[slot].text != NULL && t->ipc[slot].ip == ip) return Py_NewRef(t->ipc[slot].text);
    char buf[16];
    int n = snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    PyObject *s = PyUnicode_FromStringAndSize(buf, n);
    if (s == NULL) return NULL;
    Py_XSETREF(t->ipc[slot].text, Py_NewRef(s));
    t->ipc[slot].ip = ip;
    return s;
}

static inline int is_v4(uint64_t hi, uint64_t lo) { return hi == 0 && (lo >> 32) == 0xFFFF; }

/* The address texts and uid from the caller's texts(key, first_ns) -> (lo_ip, hi_ip, uid). */
static int texts_from_python(Table *t, Flow *f) {
    PyObject *key = flow_key(f, NULL), *first = key ? PyLong_FromLongLong(f->first_ns) : NULL;
    PyObject *r = first ? call2(t->texts, key, first) : NULL;
    Py_XDECREF(key);
    Py_XDECREF(first);
    if (r == NULL) return -1;
    if (!PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) != 3) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_TypeError, "FlowTable: texts() must return a tuple (lo_ip, hi_ip, uid)");
        return -1;
    }
    Py_XSETREF(f->lo_ip, Py_NewRef(PyTuple_GET_ITEM(r, 0)));
    Py_XSETREF(f->hi_ip, Py_NewRef(PyTuple_GET_ITEM(r, 1)));
    Py_XSETREF(f->uid, Py_NewRef(PyTuple_GET_ITEM(r, 2)));
    Py_DECREF(r);
    return 0;
}

/* A new flow object (not yet in the table), as FlowState.__init__ makes it. */
static Flow *make_flow(Table *t, const uint64_t *k, long long t0, int flo, uint64_t sm, uint64_t dm) {
    int tcode = (int)((k[0] >> 32) & 0xFF); /* < N_TRANSPORTS: checked per batch */
    Flow *f = (Flow *)t->flow_type->tp_alloc(t->flow_type, 0); /* zeroed */
    if (f == NULL) return NULL;
    memcpy(f->k, k, sizeof f->k);
    f->entry = NIL;
    f->tcode = tcode;
    f->cls = class_of(tcode);
    f->transport = Py_NewRef(t->transports[tcode]);
    long long vlan = (long long)((k[0] >> 40) & 0x1FFF) - 1;
    f->vlan = vlan < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(vlan);
    if (f->vlan == NULL) goto fail;
    f->first_ns = f->last_ns = t0;
    f->a_is_lo = (char)flo;
    f->a_mac = sm;
    f->b_mac = dm;
    f->server = -1;
    f->close_ns = -1;
    if (tcode == T_L2) {
        f->ethertype = k[1];
        if (texts_from_python(t, f) < 0) goto fail;
        return f;
    }
    f->lo_port = (int)((k[0] >> 16) & 0xFFFF);
    f->hi_port = (int)(k[0] & 0xFFFF);
    if (!is_v4(k[1], k[2]) || !is_v4(k[3], k[4])) {
        if (texts_from_python(t, f) < 0) goto fail;
        return f;
    }
    f->lo_ip = ip4_text(t, (uint32_t)k[2]);
    f->hi_ip = f->lo_ip ? ip4_text(t, (uint32_t)k[4]) : NULL;
    if (f->hi_ip == NULL) goto fail;
    char prefix[HEAD_CAP + 32];
    int plen = t->head_len[tcode];
    memcpy(prefix, t->heads[tcode], (size_t)plen);
    int n = vlan < 0 ? snprintf(prefix + plen, 32, "|") : snprintf(prefix + plen, 32, "%lld|", vlan);
    plen += n;
    f->uid = wardwatch_flow_uid_text(prefix, plen, (const char *)PyUnicode_1BYTE_DATA(f->lo_ip), PyUnicode_GET_LENGTH(f->lo_ip),
                                     f->lo_port, (const char *)PyUnicode_1BYTE_DATA(f->hi_ip), PyUnicode_GET_LENGTH(f->hi_ip),
                                     f->hi_port, t0);
    if (f->uid == NULL) goto fail;
    if (f->uid == Py_None && texts_from_python(t, f) < 0) goto fail; /* cannot happen for IPv4 */
    return f;
fail:
    Py_DECREF(f);
    return NULL;
}

/* A new flow in the table (meter.py: FlowMeter._create); a borrowed reference, or NULL. */
static Flow *create(Table *t, const uint64_t *k, long long t0, int flo, uint64_t sm, uint64_t dm, PyObject *on_end) {
    if (live_count(t) >= t->max_flows && evict(t, on_end) < 0) return NULL;
    Flow *f = make_flow(t, k, t0, flo, sm, dm);
    if (f == NULL) return NULL;
    Lru *l = &t->lru[f->cls];
    if (lru_reserve(l, (uint64_t)l->count + 1, (uint64_t)t->max_flows, "FlowTable") < 0) {
        Py_DECREF(f);
        return NULL;
    }
    f->id = ++t->next_id;
    f->touch = ++t->tick;
    uint32_t e = lru_insert(l, key_hash(t->seed, k));
    Entry *x = entry_at(l, e);
    memcpy(x->k, k, sizeof x->k);
    x->flow = f; /* the table's reference */
    f->entry = e;
    t->created++;
    return f;
}

static int push_closing(Table *t, const Flow *f) {
    if (t->cl_len == t->cl_cap) {
        size_t cap = t->cl_cap ? 2 * t->cl_cap : 64;
        Closing *cl = cap > SIZE_MAX / sizeof(Closing) ? NULL : PyMem_RawMalloc(cap * sizeof(Closing));
        if (cl == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i < t->cl_len; i++) cl[i] = t->cl[(t->cl_head + i) % t->cl_cap];
        PyMem_RawFree(t->cl);
        t->cl = cl;
        t->cl_cap = cap;
        t->cl_head = 0;
    }
    Closing *c = &t->cl[(t->cl_head + t->cl_len) % t->cl_cap];
    c->deadline = (wide)f->close_ns + t->grace;
    c->id = f->id;
    memcpy(c->k, f->k, sizeof c->k);
    t->cl_len++;
    return 0;
}

/* A TCP FIN or RST at sorted position kk (the flow not yet closed). */
static int note_end(Table *t, Flow *f, int64_t bits, int from_lo, long long ts) {
    if (bits & B_RST) f->close_ns = ts;
    else if (from_lo) f->fin_lo = 1;
    else f->fin_hi = 1;
    if (f->fin_lo && f->fin_hi) f->close_ns = ts;
    return f->close_ns >= 0 ? push_closing(t, f) : 0;
}

static void roles(Flow *f, int64_t sb) {
    if (sb & B_SYNACK_LO) {
        f->server = 0;
        f->server_final = 1;
    } else if (sb & B_SYNACK_HI) {
        f->server = 1;
        f->server_final = 1;
    } else if (f->server < 0) {
        if (sb & B_SYN_LO) f->server = 1;
        else if (sb & B_SYN_HI) f->server = 0;
    }
}

/* The sorted batch process() walks. */
typedef struct {
    Py_ssize_t m;
    const int64_t *order, *ts, *bits, *cnl, *cb, *cbl, *orig;
    const uint64_t *c[5], *smac, *dmac;
    const uint8_t *from_lo;
    const int64_t *idle_lut;
    PyObject *on_update, *on_end;
    const struct Payloads *pay;
} Batch;

/* --- TCP streams -------------------------------------------------------------------------------- */
/* With set_streams, TCP flows do not go to on_update: their packets are walked here as
 * SensorEngine._tcp walks them (engine.py, the reference, which runs with the Python meter and
 * where the streams are off): each direction keeps an in-order prefix (reassembled by sequence
 * number, retransmissions and overlap trimmed, up to MAX_PENDING out-of-order segments held
 * within OOO_WINDOW bytes of the next one), decided on its first in-order bytes
 * (decide(flow, head) -> truth: kept, else dropped at once) and handed over once
 * (handoff(flow, direction, ts, prefix)) when it reaches `limit` bytes, on a FIN that way, on a
 * RST, after a hole, at flow end or when more than `max` streams are open (the oldest goes).
 * SYNs and SYN-ACKs go to syn(flow, position, batch index, syn_ack) when given. The Python
 * callbacks run the dissectors; everything per packet is here. */
#define MAX_PENDING 16
#define OOO_WINDOW 65536
#define B_SYNS (B_SYN_LO | B_SYN_HI | B_SYNACK_LO | B_SYNACK_HI)

typedef struct {
    uint32_t seq;
    Py_ssize_t len;
    char *data;
} Pend;

typedef struct Dir {
    struct Dir *prev, *next; /* the table's open streams */
    Flow *flow;              /* borrowed: the flow's table holds it while the stream is open */
    int dr;
    char decided, has_next;
    uint32_t next_seq;
    char *buf;
    Py_ssize_t len, cap;
    Pend *pend; /* insertion order, as the reference's dict */
    int npend;
} Dir;

/* The per-packet columns the streams read, by batch index, and the batch's bytes. */
typedef struct Payloads {
    const int64_t *seq, *plen, *pabs, *pwire;
    const uint8_t *data;
    Py_ssize_t ndata;
} Payloads;

static void dir_free(Dir *d) {
    if (d == NULL) return;
    for (int q = 0; q < d->npend; q++) PyMem_RawFree(d->pend[q].data);
    PyMem_RawFree(d->pend);
    PyMem_RawFree(d->buf);
    PyMem_RawFree(d);
}

/* Take flow f's stream `dr` out (the reference's _drop): the direction is done. */
static Dir *dir_take(Table *t, Flow *f, int dr) {
    Dir *d = f->dir[dr];
    f->dir[dr] = NULL;
    f->done[dr] = 1;
    if (d != NULL) {
        if (d->prev) d->prev->next = d->next;
        else t->st.head = d->next;
        if (d->next) d->next->prev = d->prev;
        else t->st.tail = d->prev;
        t->st.open--;
    }
    return d;
}

/* Every open stream freed, none handed over (the table let go of its flows). */
static void release_streams(Table *t) {
    while (t->st.head != NULL) dir_free(dir_take(t, t->st.head->flow, t->st.head->dr));
}

/* The reference's _append: `data` from byte `skip` on (nothing when skip >= len). */
static int dir_append(Dir *d, const char *data, Py_ssize_t len, long long skip) {
    if (skip >= len) return 0;
    Py_ssize_t n = len - (Py_ssize_t)skip;
    if (d->len + n > d->cap) {
        Py_ssize_t cap = d->cap ? d->cap : 2048;
        while (cap < d->len + n) cap *= 2;
        char *buf = PyMem_RawRealloc(d->buf, (size_t)cap);
        if (buf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        d->buf = buf;
        d->cap = cap;
    }
    memcpy(d->buf + d->len, data + skip, (size_t)n);
    d->len += n;
    d->next_seq += (uint32_t)n;
    return 0;
}

/* The reference's _handoff: the stream out (done), its prefix to handoff() when it has bytes. */
static int handoff(Table *t, Flow *f, int dr, long long ts) {
    Dir *d = dir_take(t, f, dr);
    if (d == NULL || d->len == 0) {
        dir_free(d);
        return 0;
    }
    PyObject *prefix = PyBytes_FromStringAndSize(d->buf, d->len < t->st.limit ? d->len : t->st.limit);
    dir_free(d);
    PyObject *pdr = PyLong_FromLong(dr), *pts = PyLong_FromLongLong(ts), *r = NULL;
    if (prefix != NULL && pdr != NULL && pts != NULL) {
        PyObject *args[4] = {(PyObject *)f, pdr, pts, prefix};
        r = PyObject_Vectorcall(t->st.handoff, args, 4, NULL);
    }
    Py_XDECREF(prefix);
    Py_XDECREF(pdr);
    Py_XDECREF(pts);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

/* Hand over both open streams of an ending flow (the reference's _on_end), lo first. */
static int end_streams(Table *t, Flow *f) {
    for (int dr = 0; dr < 2; dr++)
        if (f->dir[dr] != NULL && handoff(t, f, dr, f->last_ns) < 0) return -1;
    return 0;
}

/* The reference's _stream_data: one segment's bytes into direction dr of f. */
static int stream_data(Table *t, Flow *f, int dr, uint32_t seq, const char *data, Py_ssize_t len, long long ts) {
    Dir *d = f->dir[dr];
    if (d == NULL) {
        d = PyMem_RawCalloc(1, sizeof(Dir));
        if (d == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        d->flow = f;
        d->dr = dr;
        d->has_next = f->has_isn[dr];
        d->next_seq = f->isn[dr];
        d->prev = t->st.tail;
        if (t->st.tail) t->st.tail->next = d;
        else t->st.head = d;
        t->st.tail = d;
        t->st.open++;
        f->dir[dr] = d;
        if (t->st.open > t->st.max) {
            Dir *v = t->st.head;
            Flow *vf = v->flow;
            int vd = v->dr;
            t->st.evicted++;
            if (handoff(t, vf, vd, vf->last_ns) < 0) return -1;
            if (vf == f && vd == dr) return 0;
        }
    }
    if (!d->has_next) {
        d->next_seq = seq;
        d->has_next = 1;
    }
    int32_t rel = (int32_t)(seq - d->next_seq);
    if (rel <= 0) {
        if (dir_append(d, data, len, -(long long)rel) < 0) return -1;
        while (d->npend && d->len < t->st.limit) {
            int progressed = 0;
            for (int q = 0; q < d->npend;) {
                int32_t r = (int32_t)(d->pend[q].seq - d->next_seq);
                if (r > 0) {
                    q++;
                    continue;
                }
                Pend p = d->pend[q];
                memmove(&d->pend[q], &d->pend[q + 1], (size_t)(d->npend - q - 1) * sizeof(Pend));
                d->npend--;
                int rc = dir_append(d, p.data, p.len, -(long long)r);
                PyMem_RawFree(p.data);
                if (rc < 0) return -1;
                progressed = 1;
            }
            if (!progressed) break;
        }
    } else if (rel <= OOO_WINDOW && d->npend < MAX_PENDING) {
        int q = 0;
        while (q < d->npend && d->pend[q].seq != seq) q++;
        if (len > (q < d->npend ? d->pend[q].len : 0)) {
            char *copy = PyMem_RawMalloc((size_t)len);
            if (copy == NULL || (d->pend == NULL && (d->pend = PyMem_RawMalloc(MAX_PENDING * sizeof(Pend))) == NULL)) {
                PyMem_RawFree(copy);
                PyErr_NoMemory();
                return -1;
            }
            memcpy(copy, data, (size_t)len);
            if (q < d->npend) PyMem_RawFree(d->pend[q].data); /* replaced in place: a dict keeps its order */
            else d->npend++;
            d->pend[q] = (Pend){seq, len, copy};
        }
    } else {
        return handoff(t, f, dr, ts); /* a gap we will not see filled: what is in order goes */
    }
    if (!d->decided && d->len) {
        d->decided = 1;
        PyObject *head = PyBytes_FromStringAndSize(d->buf, d->len);
        if (head == NULL) return -1;
        PyObject *r = call2(t->st.decide, (PyObject *)f, head);
        Py_DECREF(head);
        if (r == NULL) return -1;
        int keep = PyObject_IsTrue(r);
        Py_DECREF(r);
        if (keep < 0) return -1;
        if (!keep) {
            dir_free(dir_take(t, f, dr));
            return 0;
        }
    }
    return d->len >= t->st.limit ? handoff(t, f, dr, ts) : 0;
}

/* The reference's _tcp: the packets [s, e) of TCP flow f, in order. */
static int tcp_run(Table *t, const Batch *b, Flow *f, Py_ssize_t s, Py_ssize_t e) {
    const Payloads *p = b->pay;
    for (Py_ssize_t q = s; q < e; q++) {
        int64_t bits = b->bits[q], i = b->orig[q], plen = p->plen[i];
        if (plen <= 0 && !(bits & (B_SYNS | B_END))) continue;
        int dr = b->from_lo[q] ? 0 : 1;
        if (bits & B_SYNS) {
            if (!f->has_isn[dr]) {
                f->isn[dr] = (uint32_t)p->seq[i] + 1;
                f->has_isn[dr] = 1;
            }
            if (t->st.syn != Py_None) {
                PyObject *pq = PyLong_FromSsize_t(q), *pi = PyLong_FromLongLong(i), *r = NULL;
                if (pq != NULL && pi != NULL) {
                    PyObject *args[4] = {(PyObject *)f, pq, pi, (bits & (B_SYNACK_LO | B_SYNACK_HI)) ? Py_True : Py_False};
                    r = PyObject_Vectorcall(t->st.syn, args, 4, NULL);
                }
                Py_XDECREF(pq);
                Py_XDECREF(pi);
                if (r == NULL) return -1;
                Py_DECREF(r);
            }
        }
        if (!f->done[dr]) {
            if (plen > 0) {
                int64_t at = p->pabs[i];
                if (at < 0 || at > p->ndata || plen > p->ndata - at) {
                    PyErr_Format(PyExc_ValueError, "FlowTable: the payload of batch index %lld is out of range", (long long)i);
                    return -1;
                }
                const char *data = (const char *)p->data + at;
                uint32_t seq = (uint32_t)p->seq[i];
                Dir *d = f->dir[dr];
                if (plen < p->pwire[i]) {
                    /* cut by the snap length: the stream has a hole after this segment */
                    if (stream_data(t, f, dr, seq, data, plen, b->ts[q]) < 0) return -1;
                    if (f->dir[dr] != NULL && handoff(t, f, dr, b->ts[q]) < 0) return -1;
                    f->done[dr] = 1;
                } else if (d != NULL && d->decided && seq == d->next_seq && d->npend == 0) {
                    if (dir_append(d, data, plen, 0) < 0) return -1;
                    if (d->len >= t->st.limit && handoff(t, f, dr, b->ts[q]) < 0) return -1;
                } else if (stream_data(t, f, dr, seq, data, plen, b->ts[q]) < 0) {
                    return -1;
                }
            }
            if (bits & B_FIN) {
                if (f->dir[dr] != NULL && handoff(t, f, dr, b->ts[q]) < 0) return -1;
                f->done[dr] = 1;
            }
        }
        if (bits & B_RST) {
            for (int d = 0; d < 2; d++) {
                if (f->dir[d] != NULL && handoff(t, f, d, b->ts[q]) < 0) return -1;
                f->done[d] = 1;
            }
        }
    }
    return 0;
}

/* Counts of [s, e) onto `f`, then on_update(f, s, e), or for TCP with the streams on, tcp_run. */
static int apply(Table *t, const Batch *b, Flow *f, Py_ssize_t s, Py_ssize_t e, long long n_lo, long long nb,
                 long long b_lo, long long tmax, int64_t sb) {
    f->pk_lo += n_lo;
    f->pk_hi += (e - s) - n_lo;
    f->by_lo += b_lo;
    f->by_hi += nb - b_lo;
    if (tmax > f->last_ns) f->last_ns = tmax;
    if (!f->server_final) {
        if (sb < 0) {
            sb = 0;
            for (Py_ssize_t q = s; q < e; q++) sb |= b->bits[q];
        }
        if (sb) roles(f, sb);
    }
    if (t->nt == t->tcap) {
        size_t cap = t->tcap ? 2 * t->tcap : 1024;
        Flow **a = cap > SIZE_MAX / sizeof(Flow *) ? NULL : PyMem_RawRealloc(t->touched, cap * sizeof(Flow *));
        if (a == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->touched = a;
        t->tcap = cap;
    }
    t->touched[t->nt++] = (Flow *)Py_NewRef(f);
    if (t->st.handoff != NULL && f->tcode == T_TCP) return tcp_run(t, b, f, s, e);
    PyObject *ps = PyLong_FromSsize_t(s), *pe = ps ? PyLong_FromSsize_t(e) : NULL;
    PyObject *r = NULL;
    if (pe != NULL) {
        PyObject *args[3] = {(PyObject *)f, ps, pe};
        r = PyObject_Vectorcall(b->on_update, args, 3, NULL);
    }
    Py_XDECREF(ps);
    Py_XDECREF(pe);
    if (r == NULL) return -1;
    Py_DECREF(r);
    return 0;
}

/* Sorted positions [s, e) of one key, split at the active timeout and after a TCP close (meter.py:
 * FlowMeter._slow). `f` is the live flow at s; `whole` the segment's (n_lo, bytes, bytes_lo, tmax,
 * bits), valid when no cut falls inside it. */
static int slow(Table *t, const Batch *b, Flow *f, const uint64_t *k, Py_ssize_t s, Py_ssize_t e,
                const long long *whole) {
    const int64_t *ts = b->ts, *bits = b->bits;
    int cls = class_of((int)((k[0] >> 32) & 0xFF));
    Py_ssize_t pos = s;
    while (pos < e) {
        long long t0 = ts[pos];
        if (f == NULL) {
            f = find(&t->lru[cls], key_hash(t->seed, k), k);
            if (f != NULL && timed_out(t, f, t0)) {
                if (end_flow(t, f, why(t, f, t0), b->on_end) < 0) return -1;
                f = NULL;
            }
            if (f == NULL) {
                int64_t i0 = b->orig[pos];
                f = create(t, k, t0, b->from_lo[pos], b->smac[i0], b->dmac[i0], b->on_end);
                if (f == NULL) return -1;
            }
        }
        Py_ssize_t j = e;
        wide deadline = (wide)f->first_ns + t->active;
        long long mx = 0;
        if (pos == s) mx = whole[3];
        else
            for (Py_ssize_t q = pos; q < e; q++) mx = q == pos || ts[q] > mx ? ts[q] : mx;
        if ((wide)mx >= deadline) {
            j = pos + 1;
            while (j < e && (wide)ts[j] < deadline) j++;
        }
        if (f->tcode == T_TCP) {
            Py_ssize_t from = pos + 1;
            if (f->close_ns < 0) {
                from = -1;
                for (Py_ssize_t q = pos; q < j; q++) {
                    if (!(bits[q] & B_END)) continue;
                    if (note_end(t, f, bits[q], b->from_lo[q], ts[q]) < 0) return -1;
                    if (f->close_ns >= 0) {
                        from = q + 1;
                        break;
                    }
                }
            }
            if (from >= 0) {
                wide limit = (wide)f->close_ns + t->grace;
                for (Py_ssize_t q = from; q < j; q++) {
                    if ((wide)ts[q] > limit) {
                        j = q;
                        break;
                    }
                }
            }
        }
        long long n_lo, nb, b_lo, tmax;
        int64_t sb;
        if (pos == s && j == e) {
            n_lo = whole[0], nb = whole[1], b_lo = whole[2], tmax = whole[3], sb = whole[4];
        } else {
            n_lo = b->cnl[j] - b->cnl[pos];
            b_lo = b->cbl[j] - b->cbl[pos];
            nb = b->cb[j] - b->cb[pos];
            tmax = ts[pos];
            for (Py_ssize_t q = pos + 1; q < j; q++)
                if (ts[q] > tmax) tmax = ts[q];
            sb = -1;
        }
        if (apply(t, b, f, pos, j, n_lo, nb, b_lo, tmax, sb) < 0) return -1;
        if (j < e) {
            if (end_flow(t, f, why(t, f, ts[j]), b->on_end) < 0) return -1;
            f = NULL;
        }
        pos = j;
    }
    return 0;
}

/* One segment [s, e) of key k (meter.py: the loop of FlowMeter.process). */
static int segment(Table *t, const Batch *b, const uint64_t *k, Py_ssize_t s, Py_ssize_t e, long long tmax,
                   int64_t sb) {
    long long t0 = b->ts[s];
    int cls = class_of((int)((k[0] >> 32) & 0xFF));
    Flow *f = find(&t->lru[cls], key_hash(t->seed, k), k);
    if (f != NULL && timed_out(t, f, t0)) {
        if (end_flow(t, f, why(t, f, t0), b->on_end) < 0) return -1;
        f = NULL;
    }
    if (f == NULL) {
        int64_t i0 = b->orig[s];
        f = create(t, k, t0, b->from_lo[s], b->smac[i0], b->dmac[i0], b->on_end);
        if (f == NULL) return -1;
    }
    long long n_lo = b->cnl[e] - b->cnl[s], nb = b->cb[e] - b->cb[s], b_lo = b->cbl[e] - b->cbl[s];
    int over = (wide)tmax - f->first_ns >= t->active;
    if ((sb & B_END) || f->close_ns >= 0 || over) {
        if (f->close_ns >= 0 || over || f->tcode != T_TCP || (e - s != 1 && (e - s != 2 || b->bits[s] & B_END))) {
            const long long whole[5] = {n_lo, nb, b_lo, tmax, sb};
            return slow(t, b, f, k, s, e, whole);
        }
        /* a FIN or RST as the last packet of a segment of one or two (a scan's SYN, RST) */
        Py_ssize_t q = e - 1;
        if (note_end(t, f, b->bits[q], b->from_lo[q], b->ts[q]) < 0) return -1;
    }
    return apply(t, b, f, s, e, n_lo, nb, b_lo, tmax, sb);
}

typedef struct {
    long long last;
    size_t seq;
    Flow *f;
} Touched;

static int touched_cmp(const void *x, const void *y) {
    const Touched *a = x, *b = y;
    if (a->last != b->last) return a->last < b->last ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Renew the flows of the batch in order of their last packet (a stable sort, as list.sort), so
 * sweeps and eviction see the least recently seen first; ended ones are only let go. */
static int renew(Table *t) {
    size_t n = t->nt;
    t->nt = 0;
    if (n == 0) return 0;
    Touched *a = PyMem_RawMalloc(n * sizeof(Touched));
    if (a == NULL) {
        for (size_t i = 0; i < n; i++) Py_DECREF(t->touched[i]);
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < n; i++) a[i] = (Touched){t->touched[i]->last_ns, i, t->touched[i]};
    qsort(a, n, sizeof(Touched), touched_cmp);
    for (size_t i = 0; i < n; i++) {
        Flow *f = a[i].f;
        if (f->entry != NIL) {
            f->touch = ++t->tick;
            lru_touch(&t->lru[f->cls], f->entry);
        }
    }
    for (size_t i = 0; i < n; i++) Py_DECREF(a[i].f);
    PyMem_RawFree(a);
    return 0;
}

static int enter(Table *t) {
    if (t->busy) {
        PyErr_SetString(PyExc_RuntimeError, "FlowTable: a hook called back into its table");
        return -1;
    }
    t->busy = 1;
    return 0;
}

static int hook_arg(PyObject *o, const char *name) {
    if (PyCallable_Check(o)) return 0;
    PyErr_Format(PyExc_TypeError, "FlowTable: %s must be callable", name);
    return -1;
}

PyDoc_STRVAR(process_doc,
"process(order, c0, c1, c2, c3, c4, ts_s, from_lo_s, bits, cnl, cb, cbl, orig, src_mac, dst_mac,\n"
"        idle_lut, tcp_seq, pay_len, pay_abs, pay_wire, data, on_update, on_end) -> None\n\n"
"Meter one sorted batch (FlowMeter.process after its set-up): sorted position k has the key\n"
"(c0..c4)[order[k]], timestamp ts_s[k], direction from_lo_s[k], bits bits[k] and batch index\n"
"orig[k] (into src_mac and dst_mac); cnl, cb, cbl are the prefix sums (m + 1 long). Segments are\n"
"the runs of one key with no gap longer than idle_lut[transport]. Calls on_update(flow, s, e)\n"
"and on_end(flow, reason) as FlowMeter does; with the streams on (set_streams), TCP flows go to\n"
"the streams instead of on_update, which read tcp_seq, pay_len, pay_abs (the payload's offset in\n"
"data) and pay_wire by batch index. ValueError for wrong arrays.");

enum { P_ARRAYS = 21 };

static PyObject *table_process(Table *t, PyObject *const *args, Py_ssize_t nargs) {
    static const struct { int kind; Py_ssize_t size; const char *name; } spec[P_ARRAYS] = {
        {K_SIGNED, 8, "order"},   {K_UNSIGNED, 8, "c0"},      {K_UNSIGNED, 8, "c1"},  {K_UNSIGNED, 8, "c2"},
        {K_UNSIGNED, 8, "c3"},    {K_UNSIGNED, 8, "c4"},      {K_SIGNED, 8, "ts_s"},  {K_BOOL, 1, "from_lo_s"},
        {K_SIGNED, 8, "bits"},    {K_SIGNED, 8, "cnl"},       {K_SIGNED, 8, "cb"},    {K_SIGNED, 8, "cbl"},
        {K_SIGNED, 8, "orig"},    {K_UNSIGNED, 8, "src_mac"}, {K_UNSIGNED, 8, "dst_mac"},
        {K_SIGNED, 8, "idle_lut"}, {K_SIGNED, 8, "tcp_seq"},   {K_SIGNED, 8, "pay_len"}, {K_SIGNED, 8, "pay_abs"},
        {K_SIGNED, 8, "pay_wire"}, {K_BYTES, 1, "data"},
    };
    if (nargs != P_ARRAYS + 2) {
        PyErr_Format(PyExc_TypeError, "FlowTable.process takes %d arguments, not %zd", P_ARRAYS + 2, nargs);
        return NULL;
    }
    if (hook_arg(args[P_ARRAYS], "on_update") < 0 || hook_arg(args[P_ARRAYS + 1], "on_end") < 0) return NULL;
    Py_buffer v[P_ARRAYS];
    int held = 0;
    PyObject *result = NULL;
    Py_ssize_t m = -1, nkeys = -1, nbatch = -1;
    for (; held < P_ARRAYS; held++) {
        /* lengths: order m; the key columns alike (nkeys); the sorted view m; the sums m + 1;
         * the MACs alike (nbatch); idle_lut one per transport */
        Py_ssize_t want = held == 0   ? -1
                          : held == 1 ? -1
                          : held < 6  ? nkeys
                          : held < 9  ? m
                          : held < 12 ? m + 1
                          : held == 12 ? m
                          : held == 13 ? -1
                          : held == 14 ? nbatch
                          : held == 15 ? N_TRANSPORTS
                          : held < 20  ? nbatch
                                       : -1;
        if (get_array(args[held], &v[held], spec[held].kind, spec[held].size, want, 0, spec[held].name) < 0)
            goto release;
        if (held == 0) m = v[0].shape[0];
        if (held == 1) nkeys = v[1].shape[0];
        if (held == 13) nbatch = v[13].shape[0];
    }
    const Payloads pay = {
        .seq = v[16].buf, .plen = v[17].buf, .pabs = v[18].buf, .pwire = v[19].buf, .data = v[20].buf,
        .ndata = v[20].shape[0],
    };
    Batch b = {
        .m = m, .order = v[0].buf, .ts = v[6].buf, .from_lo = v[7].buf, .bits = v[8].buf, .cnl = v[9].buf,
        .cb = v[10].buf, .cbl = v[11].buf, .orig = v[12].buf, .smac = v[13].buf, .dmac = v[14].buf,
        .idle_lut = v[15].buf, .on_update = args[P_ARRAYS], .on_end = args[P_ARRAYS + 1], .pay = &pay,
    };
    for (int q = 0; q < 5; q++) b.c[q] = v[1 + q].buf;
    for (Py_ssize_t k = 0; k < m; k++) {
        int64_t o = b.order[k];
        if (o < 0 || o >= nkeys || b.orig[k] < 0 || b.orig[k] >= nbatch || ((b.c[0][o] >> 32) & 0xFF) >= N_TRANSPORTS) {
            PyErr_Format(PyExc_ValueError, "FlowTable.process: sorted position %zd is out of range", k);
            goto release;
        }
    }
    if (enter(t) < 0) goto release;
    int failed = 0;
    Py_ssize_t s = 0;
    while (s < m && !failed) {
        int64_t o = b.order[s];
        Py_ssize_t e = s + 1;
        int64_t sb = b.bits[s];
        long long tmax = b.ts[s];
        while (e < m) {
            int64_t oe = b.order[e], op = b.order[e - 1];
            int64_t gap = (int64_t)((uint64_t)b.ts[e] - (uint64_t)b.ts[e - 1]); /* np.diff wraps */
            if (gap > b.idle_lut[(b.c[0][oe] >> 32) & 0xFF] || b.c[0][oe] != b.c[0][op] || b.c[1][oe] != b.c[1][op] ||
                b.c[2][oe] != b.c[2][op] || b.c[3][oe] != b.c[3][op] || b.c[4][oe] != b.c[4][op])
                break;
            sb |= b.bits[e];
            if (b.ts[e] > tmax) tmax = b.ts[e];
            e++;
        }
        const uint64_t k[5] = {b.c[0][o], b.c[1][o], b.c[2][o], b.c[3][o], b.c[4][o]};
        failed = segment(t, &b, k, s, e, tmax, sb) < 0;
        s = e;
    }
    /* the touched flows are renewed even after a hook's exception: the table stays consistent */
    PyObject *exc_type, *exc_value, *exc_tb;
    PyErr_Fetch(&exc_type, &exc_value, &exc_tb);
    int renewed = renew(t);
    if (failed) {
        if (renewed < 0) PyErr_Clear();
        PyErr_Restore(exc_type, exc_value, exc_tb);
    } else if (renewed == 0) {
        result = Py_NewRef(Py_None);
    }
    t->busy = 0;
release:
    while (held > 0) PyBuffer_Release(&v[--held]);
    return result;
}

static int ns_arg(PyObject *o, long long *out) {
    *out = PyLong_AsLongLong(o);
    return *out == -1 && PyErr_Occurred() ? -1 : 0;
}

PyDoc_STRVAR(expire_doc,
"expire(now_ns, on_end) -> None\n\n"
"End the flows idle for longer than their timeout at now_ns, and closed flows past their grace\n"
"(FlowMeter.expire).");

static PyObject *table_expire(Table *t, PyObject *const *args, Py_ssize_t nargs) {
    long long now;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "FlowTable.expire takes 2 arguments, not %zd", nargs);
        return NULL;
    }
    if (ns_arg(args[0], &now) < 0 || hook_arg(args[1], "on_end") < 0 || enter(t) < 0) return NULL;
    int failed = 0;
    for (int c = 0; c < NCLS && !failed; c++) {
        Lru *l = &t->lru[c];
        wide limit = (wide)now - t->idle[c];
        while (l->count && !failed) {
            Flow *f = entry_at(l, l->head)->flow;
            if ((wide)f->last_ns >= limit) break;
            failed = end_flow(t, f, f->close_ns >= 0 ? R_CLOSE : R_IDLE, args[1]) < 0;
        }
    }
    while (!failed && t->cl_len && t->cl[t->cl_head].deadline < (wide)now) {
        Closing c = t->cl[t->cl_head];
        t->cl_head = (t->cl_head + 1) % t->cl_cap;
        t->cl_len--;
        Flow *f = find(&t->lru[0], key_hash(t->seed, c.k), c.k);
        if (f != NULL && f->id == c.id) failed = end_flow(t, f, R_CLOSE, args[1]) < 0;
    }
    t->busy = 0;
    if (failed) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(flush_doc,
"flush(on_end) -> None\n\n"
"End every live flow (end of capture; closed TCP flows end as tcp-close), class by class, each in\n"
"LRU order (FlowMeter.flush).");

static PyObject *table_flush(Table *t, PyObject *on_end) {
    if (hook_arg(on_end, "on_end") < 0 || enter(t) < 0) return NULL;
    int failed = 0;
    for (int c = 0; c < NCLS && !failed; c++) {
        Lru *l = &t->lru[c];
        while (l->count && !failed) {
            Flow *f = entry_at(l, l->head)->flow;
            failed = end_flow(t, f, f->close_ns >= 0 ? R_CLOSE : R_EOC, on_end) < 0;
        }
    }
    if (!failed) t->cl_len = t->cl_head = 0;
    t->busy = 0;
    if (failed) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_conversations_doc,
"set_conversations(table) -> None\n\n"
"From now on every ended flow is added to `table` (a ConversationTable) before on_end is called,\n"
"as SensorEngine._conversation adds it; the rows it evicts are kept for take_evicted().");

static PyObject *table_set_conversations(Table *t, PyObject *convs) {
    if (!wardwatch_is_conversation_table(convs)) {
        PyErr_SetString(PyExc_TypeError, "FlowTable.set_conversations: a ConversationTable is needed");
        return NULL;
    }
    if (t->evicted == NULL && (t->evicted = PyList_New(0)) == NULL) return NULL;
    Py_XSETREF(t->convs, Py_NewRef(convs));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(set_streams_doc,
"set_streams(limit, max_streams, syn, decide, handoff) -> None, or set_streams(None)\n\n"
"From now on TCP flows are walked by the table's streams (see \"TCP streams\" in _flowtable.c;\n"
"SensorEngine._tcp is the reference) instead of going to on_update: prefixes up to `limit`\n"
"bytes, at most `max_streams` open, syn(flow, position, index, syn_ack) per SYN (None: not\n"
"called), decide(flow, head) -> truth on a direction's first in-order bytes, handoff(flow,\n"
"direction, ts, prefix) once per kept direction. set_streams(None) turns them off again, letting\n"
"open streams go unhanded.");

static PyObject *table_set_streams(Table *t, PyObject *const *args, Py_ssize_t nargs) {
    if (t->busy) {
        PyErr_SetString(PyExc_RuntimeError, "FlowTable: a hook called back into its table");
        return NULL;
    }
    if (nargs == 1 && args[0] == Py_None) {
        release_streams(t);
        Py_CLEAR(t->st.syn);
        Py_CLEAR(t->st.decide);
        Py_CLEAR(t->st.handoff);
        Py_RETURN_NONE;
    }
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "FlowTable.set_streams takes 5 arguments or None, not %zd", nargs);
        return NULL;
    }
    Py_ssize_t limit = PyLong_AsSsize_t(args[0]);
    if (limit == -1 && PyErr_Occurred()) return NULL;
    long long max = PyLong_AsLongLong(args[1]);
    if (max == -1 && PyErr_Occurred()) return NULL;
    if (limit < 0) {
        PyErr_SetString(PyExc_ValueError, "FlowTable.set_streams: limit must not be negative");
        return NULL;
    }
    if ((args[2] != Py_None && hook_arg(args[2], "syn") < 0) || hook_arg(args[3], "decide") < 0 ||
        hook_arg(args[4], "handoff") < 0)
        return NULL;
    if (live_count(t) > 0) { /* a live flow's packets so far went elsewhere */
        PyErr_SetString(PyExc_RuntimeError, "FlowTable.set_streams: only while no flow is live");
        return NULL;
    }
    t->st.limit = limit;
    t->st.max = max;
    Py_XSETREF(t->st.syn, Py_NewRef(args[2]));
    Py_XSETREF(t->st.decide, Py_NewRef(args[3]));
    Py_XSETREF(t->st.handoff, Py_NewRef(args[4]));
    Py_RETURN_NONE;
}

PyDoc_STRVAR(streams_evicted_doc,
"streams_evicted() -> int\n\nOpen streams handed over early because more than max_streams were open.");

static PyObject *table_streams_evicted(Table *t, PyObject *unused) {
    (void)unused;
    return PyLong_FromLongLong(t->st.evicted);
}

PyDoc_STRVAR(take_evicted_doc,
"take_evicted() -> list\n\n"
"The conversation rows evicted by the ended flows since the last call, in order (as\n"
"ConversationTable.add returned them).");

static PyObject *table_take_evicted(Table *t, PyObject *unused) {
    (void)unused;
    PyObject *out = t->evicted ? t->evicted : PyList_New(0);
    if (out == NULL) return NULL;
    if (t->evicted != NULL && (t->evicted = PyList_New(0)) == NULL) {
        t->evicted = out; /* nothing lost */
        return NULL;
    }
    return out;
}

PyDoc_STRVAR(flows_doc, "flows() -> list\n\nThe live flows: TCP, UDP, then the others, each least recently renewed first.");

static PyObject *table_flows(Table *t, PyObject *unused) {
    (void)unused;
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    for (int c = 0; c < NCLS; c++)
        for (uint32_t e = t->lru[c].head; e != NIL; e = lru_at(&t->lru[c], e)->next)
            if (PyList_Append(out, (PyObject *)entry_at(&t->lru[c], e)->flow) < 0) {
                Py_DECREF(out);
                return NULL;
            }
    return out;
}

PyDoc_STRVAR(stats_doc,
"stats() -> tuple\n\n"
"(flows_created, flows_expired_idle, flows_expired_active, flows_closed, flows_evicted,\n"
"flows_end_of_capture): MeterStats' counters.");

static PyObject *table_stats(Table *t, PyObject *unused) {
    (void)unused;
    return Py_BuildValue("(LLLLLL)", t->created, t->count[R_IDLE], t->count[R_ACTIVE], t->count[R_CLOSE],
                         t->count[R_EVICT], t->count[R_EOC]);
}

/* Let go of every flow without ending it (dealloc, tp_clear). */
static void release_flows(Table *t) {
    release_streams(t); /* first: the streams point to the flows */
    for (int c = 0; c < NCLS; c++) {
        Lru *l = &t->lru[c];
        for (uint32_t e = l->head; e != NIL; e = lru_at(l, e)->next) {
            entry_at(l, e)->flow->entry = NIL;
            Py_CLEAR(entry_at(l, e)->flow);
        }
        lru_release(l);
    }
    for (size_t i = 0; i < t->nt; i++) Py_DECREF(t->touched[i]);
    t->nt = 0;
}

static int table_traverse(Table *t, visitproc visit, void *arg) {
    for (int c = 0; c < NCLS; c++)
        for (uint32_t e = t->lru[c].head; e != NIL; e = lru_at(&t->lru[c], e)->next)
            Py_VISIT(entry_at(&t->lru[c], e)->flow);
    for (size_t i = 0; i < t->nt; i++) Py_VISIT(t->touched[i]);
    Py_VISIT(t->texts);
    Py_VISIT(t->evicted);
    Py_VISIT(t->st.syn);
    Py_VISIT(t->st.decide);
    Py_VISIT(t->st.handoff);
    Py_VISIT(t->flow_type);
    for (int q = 0; q < N_TRANSPORTS; q++) Py_VISIT(t->transports[q]);
    return 0;
}

static int table_clear(Table *t) {
    release_flows(t);
    Py_CLEAR(t->texts);
    Py_CLEAR(t->convs);
    Py_CLEAR(t->st.syn);
    Py_CLEAR(t->st.decide);
    Py_CLEAR(t->st.handoff);
    Py_CLEAR(t->evicted);
    for (int q = 0; q < N_TRANSPORTS; q++) Py_CLEAR(t->transports[q]);
    return 0;
}

static void table_dealloc(Table *t) {
    PyObject_GC_UnTrack(t);
    table_clear(t);
    Py_CLEAR(t->flow_type);
    for (int q = 0; q < N_REASONS; q++) Py_CLEAR(t->reasons[q]);
    for (size_t i = 0; i < (1u << IPC_BITS); i++) Py_CLEAR(t->ipc[i].text);
    PyMem_RawFree(t->cl);
    PyMem_RawFree(t->touched);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static PyObject *table_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"idle", "active", "grace", "max_flows", "flow_type", "transports", "heads", "texts",
                             "service_ports", "seed", NULL};
    long long idle[NCLS], active, grace, max_flows;
    PyObject *flow_type, *transports, *heads, *texts, *service_ports;
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "(LLL)LLLOOOOO|K:FlowTable", kwlist, &idle[0], &idle[1], &idle[2],
                                     &active, &grace, &max_flows, &flow_type, &transports, &heads, &texts,
                                     &service_ports, &seed))
        return NULL;
    if (max_flows < 1) {
        PyErr_SetString(PyExc_ValueError, "FlowTable: max_flows must be at least 1");
        return NULL;
    }
    if (!PyType_Check(flow_type) || !PyType_IsSubtype((PyTypeObject *)flow_type, &FlowType)) {
        PyErr_SetString(PyExc_TypeError, "FlowTable: flow_type must be a subclass of FlowCore");
        return NULL;
    }
    if (!PyTuple_Check(transports) || PyTuple_GET_SIZE(transports) != N_TRANSPORTS || !PyTuple_Check(heads) ||
        PyTuple_GET_SIZE(heads) != N_TRANSPORTS) {
        PyErr_SetString(PyExc_TypeError, "FlowTable: transports and heads must be tuples of 6");
        return NULL;
    }
    if (!PyCallable_Check(texts)) {
        PyErr_SetString(PyExc_TypeError, "FlowTable: texts must be callable");
        return NULL;
    }
    Table *t = (Table *)type->tp_alloc(type, 0); /* zeroed */
    if (t == NULL) return NULL;
    for (int c = 0; c < NCLS; c++) {
        lru_init(&t->lru[c], sizeof(Entry));
        t->idle[c] = idle[c];
    }
    t->active = active;
    t->grace = grace;
    t->max_flows = max_flows;
    t->seed = (uint64_t)seed;
    t->flow_type = (PyTypeObject *)Py_NewRef(flow_type);
    t->texts = Py_NewRef(texts);
    for (int q = 0; q < N_TRANSPORTS; q++) {
        t->transports[q] = Py_NewRef(PyTuple_GET_ITEM(transports, q));
        Py_ssize_t n;
        PyObject *h = PyTuple_GET_ITEM(heads, q);
        const char *s = PyUnicode_Check(h) && PyUnicode_IS_ASCII(h) ? PyUnicode_AsUTF8AndSize(h, &n) : NULL;
        if (s == NULL || n >= HEAD_CAP) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "FlowTable: heads must be ASCII str shorter than 64");
            Py_DECREF(t);
            return NULL;
        }
        memcpy(t->heads[q], s, (size_t)n);
        t->head_len[q] = (int)n;
    }
    PyObject *it = PyObject_GetIter(service_ports), *p;
    if (it == NULL) {
        Py_DECREF(t);
        return NULL;
    }
    while ((p = PyIter_Next(it)) != NULL) {
        long v = PyLong_Check(p) ? PyLong_AsLong(p) : -1;
        Py_DECREF(p);
        if (v < 0 || v > 65535) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "FlowTable: service_ports must be ports (0..65535)");
            break;
        }
        t->service[v >> 3] |= (uint8_t)(1u << (v & 7));
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        Py_DECREF(t);
        return NULL;
    }
    for (int q = 0; q < N_REASONS; q++) {
        t->reasons[q] = PyUnicode_InternFromString(REASONS[q]);
        if (t->reasons[q] == NULL) {
            Py_DECREF(t);
            return NULL;
        }
    }
    return (PyObject *)t;
}

static Py_ssize_t table_len(Table *t) { return (Py_ssize_t)live_count(t); }

static PyMethodDef table_methods[] = {
    {"process", (PyCFunction)(void (*)(void))table_process, METH_FASTCALL, process_doc},
    {"expire", (PyCFunction)(void (*)(void))table_expire, METH_FASTCALL, expire_doc},
    {"flush", (PyCFunction)table_flush, METH_O, flush_doc},
    {"flows", (PyCFunction)table_flows, METH_NOARGS, flows_doc},
    {"set_conversations", (PyCFunction)table_set_conversations, METH_O, set_conversations_doc},
    {"take_evicted", (PyCFunction)table_take_evicted, METH_NOARGS, take_evicted_doc},
    {"stats", (PyCFunction)table_stats, METH_NOARGS, stats_doc},
    {"set_streams", (PyCFunction)(void (*)(void))table_set_streams, METH_FASTCALL, set_streams_doc},
    {"streams_evicted", (PyCFunction)table_streams_evicted, METH_NOARGS, streams_evicted_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef table_members[] = {
    {"max_flows", T_LONGLONG, offsetof(Table, max_flows), READONLY, "The most live flows; a new one past it evicts."},
    {NULL, 0, 0, 0, NULL},
};

static PySequenceMethods table_as_sequence = {
    .sq_length = (lenfunc)table_len,
};

PyDoc_STRVAR(table_doc,
"FlowTable(idle, active, grace, max_flows, flow_type, transports, heads, texts, service_ports, seed=0)\n\n"
"The live flows of a FlowMeter and its per-segment loop: the C twin of the Python FlowMeter's.\n"
"idle: the (TCP, UDP, other) idle timeouts, active and grace in ns; flow_type: the FlowCore\n"
"subclass of the flows made; transports: the model's Transport per transport code; heads: the\n"
"start of a flow uid's text per transport code (before the VLAN); texts(key, first_ns) ->\n"
"(lo_ip, hi_ip, uid) for the flows not made here (L2, IPv6); service_ports: meter.py's\n"
"SERVICE_PORTS (the server side of a conversation without a handshake). seed varies the hash,\n"
"not the output.");

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wardwatch.sensor._native.FlowTable",
    .tp_basicsize = sizeof(Table),
    .tp_dealloc = (destructor)table_dealloc,
    .tp_as_sequence = &table_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = table_doc,
    .tp_traverse = (traverseproc)table_traverse,
    .tp_clear = (inquiry)table_clear,
    .tp_methods = table_methods,
    .tp_members = table_members,
    .tp_new = table_new,
};

int wardwatch_flowtable_init(PyObject *module) {
    if (add_type(module, &FlowType, "FlowCore") < 0) return -1;
    return add_type(module, &TableType, "FlowTable");
}
