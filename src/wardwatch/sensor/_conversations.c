/* wardwatch.sensor._native, part: ConversationTable, the engine's per-conversation aggregate.
 *
 * The C twin of wardwatch.sensor.flows.conversations.PyConversationTable (the reference): one
 * `add` per ended flow, keyed by (client IP, client MAC, server IP, server MAC, transport code,
 * server port), with the same LRU eviction at the cap and the same dirty order, so the two give
 * equal output call by call (tests/unit/flows/test_conversation_table.py holds them together).
 * On a scan a million flows end, each a new conversation: the Python table's ordered dicts of
 * tuples and lists cost about a fifth of the scan's engine time, this table a few per cent.
 *
 * The table is an LRU-ordered hash index with a dirty order (_lru.h, shared with SightingTable).
 * The IP texts the engine already holds (str, or None for a frame without addresses) are kept as
 * references and compared as strings, exactly as the reference's tuple keys compare them; MACs
 * and the rest are integers. A str holds no references, so the table needs no GC support, and
 * nothing here calls back into Python code: no call can reach the table while another runs.
 */
#include "_native.h"
#include "_lru.h"
#include <structmember.h>

#include <stdint.h>

typedef struct {
    PyObject *cip, *sip; /* str or None, owned */
    uint64_t cmac, smac;
    long long tcode, port;
    long long first, last, flows, packets, bytes;
} Conv;

typedef struct {
    Links k; /* first: the index's part */
    Conv c;
} Entry;

typedef struct {
    PyObject_HEAD
    long long cap;
    long long evicted;
    uint64_t seed;
    Lru l; /* entries are Entry */
} Table;

static inline Conv *conv_at(const Table *t, uint32_t e) { return &((Entry *)lru_at(&t->l, e))->c; }

/* str's hash is cached in the object; None's is fixed for the process. Never fails for these. */
static inline uint64_t text_hash(PyObject *s) { return (uint64_t)PyObject_Hash(s); }

static inline int same_text(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    if (a == Py_None || b == Py_None) return 0;
    return PyUnicode_Compare(a, b) == 0; /* both exact str (checked in add): cannot fail */
}

static inline uint64_t key_hash(uint64_t seed, const Conv *c) {
    uint64_t h = mix64(seed ^ text_hash(c->cip));
    h = mix64(h ^ c->cmac);
    h = mix64(h ^ text_hash(c->sip));
    h = mix64(h ^ c->smac);
    return mix64(h ^ ((uint64_t)c->tcode << 32) ^ (uint64_t)c->port);
}

static inline int same_key(const Conv *x, const Conv *y) {
    return x->cmac == y->cmac && x->smac == y->smac && x->tcode == y->tcode && x->port == y->port &&
           same_text(x->cip, y->cip) && same_text(x->sip, y->sip);
}

static uint32_t find(const Table *t, uint64_t h, const Conv *key) {
    const Lru *l = &t->l;
    if (l->slots == NULL) return NIL;
    for (uint64_t j = h & l->mask;; j = (j + 1) & l->mask) {
        uint32_t e = l->slots[j];
        if (e == NIL) return NIL;
        if (lru_at(l, e)->hash == h && same_key(conv_at(t, e), key)) return e;
    }
}

/* (client_ip, client_mac, server_ip, server_mac, tcode, port, first, last, flows, packets, bytes) */
static PyObject *conv_tuple(const Conv *c) {
    PyObject *row = PyTuple_New(11);
    if (row == NULL) return NULL;
    Py_INCREF(c->cip);
    PyTuple_SET_ITEM(row, 0, c->cip);
    Py_INCREF(c->sip);
    PyTuple_SET_ITEM(row, 2, c->sip);
    PyObject *v[9] = {
        PyLong_FromUnsignedLongLong(c->cmac), PyLong_FromUnsignedLongLong(c->smac), PyLong_FromLongLong(c->tcode),
        PyLong_FromLongLong(c->port),         PyLong_FromLongLong(c->first),        PyLong_FromLongLong(c->last),
        PyLong_FromLongLong(c->flows),        PyLong_FromLongLong(c->packets),      PyLong_FromLongLong(c->bytes),
    };
    static const Py_ssize_t at[9] = {1, 3, 4, 5, 6, 7, 8, 9, 10};
    int failed = 0;
    for (int i = 0; i < 9; i++) {
        if (v[i] == NULL) failed = 1;
        else PyTuple_SET_ITEM(row, at[i], v[i]);
    }
    if (failed) {
        Py_DECREF(row); /* unset items are NULL, which tuple dealloc skips */
        return NULL;
    }
    return row;
}

static void release_entries(Table *t) {
    for (uint32_t e = t->l.head; e != NIL; e = lru_at(&t->l, e)->next) {
        Py_CLEAR(conv_at(t, e)->cip);
        Py_CLEAR(conv_at(t, e)->sip);
    }
    lru_release(&t->l);
}

static PyObject *table_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"cap", "seed", NULL};
    long long cap;
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L|K:ConversationTable", kwlist, &cap, &seed)) return NULL;
    if (cap < 1) {
        PyErr_SetString(PyExc_ValueError, "ConversationTable: cap must be at least 1");
        return NULL;
    }
    Table *t = (Table *)type->tp_alloc(type, 0);
    if (t == NULL) return NULL;
    t->cap = cap;
    t->seed = (uint64_t)seed;
    lru_init(&t->l, sizeof(Entry));
    return (PyObject *)t;
}

static void table_dealloc(Table *t) {
    release_entries(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static int text_arg(PyObject *o, const char *name) {
    if (o == Py_None || PyUnicode_CheckExact(o)) return 0;
    PyErr_Format(PyExc_TypeError, "ConversationTable.add: %s must be str or None, not %.80s", name, Py_TYPE(o)->tp_name);
    return -1;
}

/* ints only (PyLong_Check first: no __index__ of another type is ever called) */
static int int_arg(PyObject *o, long long *out, const char *name) {
    *out = PyLong_Check(o) ? PyLong_AsLongLong(o) : -1;
    if (*out == -1 && (!PyLong_Check(o) || PyErr_Occurred())) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "ConversationTable.add: %s must be an int in the 64-bit range", name);
        return -1;
    }
    return 0;
}

static int mac_arg(PyObject *o, uint64_t *out, const char *name) {
    unsigned long long v = PyLong_Check(o) ? PyLong_AsUnsignedLongLong(o) : (unsigned long long)-1;
    if (v == (unsigned long long)-1 && (!PyLong_Check(o) || PyErr_Occurred())) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "ConversationTable.add: %s must be an int in 0..2**64-1", name);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static PyObject *add_flow(Table *t, const Conv *kp, long long packets, long long bytes);

PyDoc_STRVAR(add_doc,
"add(client_ip, client_mac, server_ip, server_mac, tcode, port, first_ns, last_ns, packets, bytes)\n"
"    -> tuple | None\n\n"
"Add one ended flow to its conversation (the key is the first six arguments; IPs are str or None,\n"
"the rest ints). Returns the entry evicted to make room, as a report row, or None.");

static PyObject *table_add(Table *t, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 10) {
        PyErr_Format(PyExc_TypeError, "ConversationTable.add takes 10 arguments, not %zd", nargs);
        return NULL;
    }
    Conv k;
    long long packets, bytes;
    if (text_arg(args[0], "client_ip") < 0 || mac_arg(args[1], &k.cmac, "client_mac") < 0 ||
        text_arg(args[2], "server_ip") < 0 || mac_arg(args[3], &k.smac, "server_mac") < 0 ||
        int_arg(args[4], &k.tcode, "tcode") < 0 || int_arg(args[5], &k.port, "port") < 0 ||
        int_arg(args[6], &k.first, "first_ns") < 0 || int_arg(args[7], &k.last, "last_ns") < 0 ||
        int_arg(args[8], &packets, "packets") < 0 || int_arg(args[9], &bytes, "bytes") < 0)
        return NULL;
    k.cip = args[0];
    k.sip = args[2];
    return add_flow(t, &k, packets, bytes);
}

/* Add one ended flow with key `k` (its first and last set); the evicted row or None (new
 * references), NULL with an exception. */
static PyObject *add_flow(Table *t, const Conv *kp, long long packets, long long bytes) {
    Conv k = *kp;
    Lru *l = &t->l;
    uint64_t h = key_hash(t->seed, &k);
    uint32_t e = find(t, h, &k);
    if (e != NIL) {
        Conv *c = conv_at(t, e);
        if (k.first < c->first) c->first = k.first;
        if (k.last > c->last) c->last = k.last;
        c->flows += 1;
        c->packets += packets;
        c->bytes += bytes;
        lru_touch(l, e);
        mark_dirty(l, e);
        Py_RETURN_NONE;
    }
    /* Everything that can fail comes first: a MemoryError leaves the table as it was. */
    uint64_t need = (uint64_t)l->count + 1;
    if (need > (uint64_t)t->cap) need = (uint64_t)t->cap;
    if (lru_reserve(l, need, (uint64_t)t->cap, "ConversationTable") < 0) return NULL;
    PyObject *evicted = Py_None;
    if ((long long)l->count >= t->cap) {
        Conv *old = conv_at(t, l->head); /* count >= cap >= 1: the list is not empty */
        evicted = conv_tuple(old);
        if (evicted == NULL) return NULL;
        Py_CLEAR(old->cip); /* the tuple holds them now */
        Py_CLEAR(old->sip);
        lru_evict(l);
        t->evicted++;
    } else {
        Py_INCREF(evicted);
    }
    e = lru_insert(l, h);
    Conv *c = conv_at(t, e);
    *c = k;
    Py_INCREF(c->cip);
    Py_INCREF(c->sip);
    c->flows = 1;
    c->packets = packets;
    c->bytes = bytes;
    mark_dirty(l, e);
    return evicted;
}

PyDoc_STRVAR(report_doc,
"report(all_) -> list[tuple]\n\n"
"Every entry in LRU order (all_ true) or the dirty ones in the order they became dirty, as\n"
"(client_ip, client_mac, server_ip, server_mac, tcode, port, first_ns, last_ns, flows, packets,\n"
"bytes) tuples; then nothing is dirty.");

static PyObject *table_report(Table *t, PyObject *arg) {
    int all = PyObject_IsTrue(arg);
    if (all < 0) return NULL;
    Lru *l = &t->l;
    PyObject *result = PyList_New((Py_ssize_t)(all ? l->count : l->ndirty));
    if (result == NULL) return NULL;
    Py_ssize_t k = 0;
    for (uint32_t e = all ? l->head : l->dhead; e != NIL; e = all ? lru_at(l, e)->next : lru_at(l, e)->dnext) {
        PyObject *row = conv_tuple(conv_at(t, e));
        if (row == NULL) {
            Py_DECREF(result); /* the dirty set stays, as in the Python code */
            return NULL;
        }
        PyList_SET_ITEM(result, k++, row);
    }
    dirty_clear(l);
    return result;
}

PyDoc_STRVAR(clear_doc, "clear() -> None\n\nForget every entry (and free their memory); `evicted` stays.");

static PyObject *table_clear(Table *t, PyObject *unused) {
    (void)unused;
    release_entries(t);
    Py_RETURN_NONE;
}

static Py_ssize_t table_len(Table *t) { return (Py_ssize_t)t->l.count; }

static PyMethodDef table_methods[] = {
    {"add", (PyCFunction)(void (*)(void))table_add, METH_FASTCALL, add_doc},
    {"report", (PyCFunction)table_report, METH_O, report_doc},
    {"clear", (PyCFunction)table_clear, METH_NOARGS, clear_doc},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef table_members[] = {
    {"cap", T_LONGLONG, offsetof(Table, cap), READONLY, "The most entries held; a new key past it evicts."},
    {"evicted", T_LONGLONG, offsetof(Table, evicted), READONLY, "Entries evicted so far."},
    {NULL, 0, 0, 0, NULL},
};

static PySequenceMethods table_as_sequence = {
    .sq_length = (lenfunc)table_len,
};

PyDoc_STRVAR(table_doc,
"ConversationTable(cap, seed=0)\n\n"
"Per-conversation aggregates of ended flows, at most cap of them, least recently updated evicted\n"
"first: the C twin of wardwatch.sensor.flows.conversations.PyConversationTable. seed varies the\n"
"hash (never the output).");

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wardwatch.sensor._native.ConversationTable",
    .tp_basicsize = sizeof(Table),
    .tp_dealloc = (destructor)table_dealloc,
    .tp_as_sequence = &table_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = table_doc,
    .tp_methods = table_methods,
    .tp_members = table_members,
    .tp_new = table_new,
};

int wardwatch_is_conversation_table(PyObject *o) { return PyObject_TypeCheck(o, &TableType); }

PyObject *wardwatch_conversation_add(PyObject *table, PyObject *client_ip, uint64_t client_mac, PyObject *server_ip,
                                     uint64_t server_mac, long long tcode, long long port, long long first_ns,
                                     long long last_ns, long long packets, long long bytes) {
    Conv k = {client_ip, server_ip, client_mac, server_mac, tcode, port, first_ns, last_ns, 0, 0, 0};
    return add_flow((Table *)table, &k, packets, bytes);
}

int wardwatch_conversations_init(PyObject *module) { return add_type(module, &TableType, "ConversationTable"); }
