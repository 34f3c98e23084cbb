/* wardwatch.sensor._native, part: SightingTable, the engine's (source MAC, source IP) aggregate.
 *
 * The C twin of wardwatch.sensor.flows.sightings.PySightingTable (the reference): the same
 * packet filter, the same per-batch aggregation, the same order of applying a batch's keys, the
 * same LRU eviction at the cap and the same dirty order, so the two give equal output call by call
 * (tests/unit/flows/test_sightings_table.py holds them together).
 *
 * The table is an LRU-ordered hash index with a dirty order (_lru.h, shared with
 * ConversationTable) whose entries hold one key's aggregate.
 *
 * A batch is done in four steps: (A) filter the packets and aggregate them per key in a scratch
 * hash table, then sort the batch's distinct keys; (B) make room in the table for every key of the
 * batch (the only step that allocates, so a MemoryError leaves the table as it was); (C) apply the
 * keys in order, copying each evicted entry out; (D) turn the evicted entries into Python tuples.
 * A and C run without the GIL; the input buffers stay exported meanwhile, so their owners cannot
 * resize them, and a busy flag turns a concurrent call on the same table into a RuntimeError.
 *
 * Arrays come in through the buffer protocol only (no NumPy headers), each checked for element
 * kind, size and length before it is read (get_array, _native.h).
 */
#include "_native.h" /* Python.h, get_array and the element kinds, shared with _native.c */
#include "_lru.h"    /* the index, its lists and NIL; batch positions are uint32_t too */
#include <structmember.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* decode.py's V4_MAPPED: IPv4 addresses are stored as ::ffff:a.b.c.d */
#define V4_MAPPED UINT64_C(0xFFFF00000000)

/* One key's aggregate: what a Sighting holds, before the MAC and IP become text. */
typedef struct {
    uint64_t mac, hi, lo;
    int64_t first, last, packets, bytes, ttl;
} Agg;

typedef struct {
    Links k; /* first: the index's part */
    Agg a;
} Entry;

typedef struct {
    PyObject_HEAD
    long long cap;
    long long evicted;
    uint64_t seed;
    Lru l; /* entries are Entry */
    int busy;
    /* per-batch scratch, kept between batches (sized by the largest batch seen) */
    size_t scratch_n;
    uint32_t *kept;  /* indices of the packets that pass the filter */
    uint32_t *bslots;
    size_t bslots_alloc;
    Agg *bagg;   /* the batch's distinct keys */
    Agg *victim; /* entries evicted during the batch, in eviction order */
} Table;

static inline Agg *agg_at(const Table *t, uint32_t e) { return &((Entry *)lru_at(&t->l, e))->a; }

/* --- keys ------------------------------------------------------------------------------------- */
/* Seeded (per table) so that spoofed source addresses cannot be chosen to collide. */
static inline uint64_t key_hash(uint64_t seed, uint64_t mac, uint64_t hi, uint64_t lo) {
    return mix64(mix64(mix64(lo ^ seed) ^ hi) ^ mac);
}

static inline int agg_cmp(const Agg *x, const Agg *y) {
    if (x->mac != y->mac) return x->mac < y->mac ? -1 : 1;
    if (x->hi != y->hi) return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
    return 0;
}

static int agg_qsort_cmp(const void *x, const void *y) { return agg_cmp((const Agg *)x, (const Agg *)y); }

static inline int same_key(const Agg *a, uint64_t mac, uint64_t hi, uint64_t lo) {
    return a->mac == mac && a->hi == hi && a->lo == lo;
}

/* --- the table's hash index ------------------------------------------------------------------- */
static uint32_t find(const Table *t, uint64_t h, uint64_t mac, uint64_t hi, uint64_t lo) {
    const Lru *l = &t->l;
    if (l->slots == NULL) return NIL;
    for (uint64_t j = h & l->mask;; j = (j + 1) & l->mask) {
        uint32_t e = l->slots[j];
        if (e == NIL) return NIL;
        if (lru_at(l, e)->hash == h && same_key(agg_at(t, e), mac, hi, lo)) return e;
    }
}

/* Scratch for a batch of n packets; MemoryError on failure (what was there is kept). */
static int reserve_scratch(Table *t, size_t n) {
    if (n <= t->scratch_n) return 0;
    uint32_t *kept = PyMem_RawMalloc(n * sizeof(uint32_t));
    Agg *bagg = PyMem_RawMalloc(n * sizeof(Agg));
    Agg *victim = PyMem_RawMalloc(n * sizeof(Agg));
    uint64_t s = slots_for(n);
    uint32_t *bslots = PyMem_RawMalloc((size_t)s * sizeof(uint32_t));
    if (kept == NULL || bagg == NULL || victim == NULL || bslots == NULL) {
        PyMem_RawFree(kept);
        PyMem_RawFree(bagg);
        PyMem_RawFree(victim);
        PyMem_RawFree(bslots);
        PyErr_NoMemory();
        return -1;
    }
    PyMem_RawFree(t->kept);
    PyMem_RawFree(t->bagg);
    PyMem_RawFree(t->victim);
    PyMem_RawFree(t->bslots);
    t->kept = kept;
    t->bagg = bagg;
    t->victim = victim;
    t->bslots = bslots;
    t->bslots_alloc = (size_t)s;
    t->scratch_n = n;
    return 0;
}

/* Let go of every entry and all scratch; the counters stay. */
static void release_all(Table *t) {
    lru_release(&t->l);
    PyMem_RawFree(t->kept);
    PyMem_RawFree(t->bagg);
    PyMem_RawFree(t->victim);
    PyMem_RawFree(t->bslots);
    t->kept = t->bslots = NULL;
    t->bagg = t->victim = NULL;
    t->scratch_n = t->bslots_alloc = 0;
}

/* --- Python objects out ----------------------------------------------------------------------------- */
static PyObject *agg_tuple(const Agg *a) {
    return Py_BuildValue("(KKKLLLLL)", (unsigned long long)a->mac, (unsigned long long)a->hi,
                         (unsigned long long)a->lo, (long long)a->first, (long long)a->last,
                         (long long)a->packets, (long long)a->bytes, (long long)a->ttl);
}

/* --- the type ------------------------------------------------------------------------------------------- */
static PyObject *table_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"cap", "seed", NULL};
    long long cap;
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L|K:SightingTable", kwlist, &cap, &seed)) return NULL;
    if (cap < 1) {
        PyErr_SetString(PyExc_ValueError, "SightingTable: cap must be at least 1");
        return NULL;
    }
    Table *t = (Table *)type->tp_alloc(type, 0);
    if (t == NULL) return NULL;
    /* tp_alloc zeroed everything else */
    t->cap = cap;
    t->seed = (uint64_t)seed;
    lru_init(&t->l, sizeof(Entry));
    return (PyObject *)t;
}

static void table_dealloc(Table *t) {
    release_all(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static int enter(Table *t) {
    if (t->busy) {
        PyErr_SetString(PyExc_RuntimeError, "SightingTable is in use by another call");
        return -1;
    }
    t->busy = 1;
    return 0;
}

#define N_IN 8
static const struct {
    const char *name;
    int kind;
    Py_ssize_t size;
} IN_SPEC[N_IN] = {
    {"src_mac", K_UNSIGNED, 8}, {"src_hi", K_UNSIGNED, 8}, {"src_lo", K_UNSIGNED, 8},
    {"ip_version", K_UNSIGNED, 1}, {"ok", K_BOOL, 1}, {"ts_ns", K_SIGNED, 8},
    {"wirelen", K_SIGNED, 4}, {"ttl", K_UNSIGNED, 1},
};

/* Step A: filter and aggregate the batch's packets per key, keys sorted; returns their number. */
static size_t aggregate(Table *t, Py_ssize_t n, const uint64_t *mac, const uint64_t *hi, const uint64_t *lo,
                        const uint8_t *ipv, const uint8_t *ok, const int64_t *ts, const int32_t *wirelen,
                        const uint8_t *ttl) {
    /* the filter of the Python code: unicast sources, or no MAC (raw IP) with a real address */
    size_t nk = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!ok[i]) continue;
        uint64_t m = mac[i];
        int unspecified = hi[i] == 0 && (lo[i] == 0 || lo[i] == V4_MAPPED);
        int has_ip = ipv[i] != 0 && !unspecified;
        int unicast = m != 0 && ((m >> 40) & 1) == 0;
        if (unicast || (m == 0 && has_ip)) t->kept[nk++] = (uint32_t)i;
    }
    if (nk == 0) return 0;
    uint64_t s = slots_for(nk), bmask = s - 1;
    memset(t->bslots, 0xFF, (size_t)s * sizeof(uint32_t));
    size_t nd = 0;
    for (size_t k = 0; k < nk; k++) {
        uint32_t i = t->kept[k];
        uint64_t m = mac[i], h = hi[i], l = lo[i];
        int unspecified = h == 0 && (l == 0 || l == V4_MAPPED);
        if (ipv[i] == 0 || unspecified) h = l = 0; /* no address: the key's IP part is empty */
        uint64_t j = key_hash(t->seed, m, h, l) & bmask;
        for (;; j = (j + 1) & bmask) {
            uint32_t d = t->bslots[j];
            if (d == NIL) {
                Agg *a = &t->bagg[nd];
                a->mac = m;
                a->hi = h;
                a->lo = l;
                a->first = a->last = ts[i];
                a->packets = 1;
                a->bytes = wirelen[i];
                a->ttl = ttl[i];
                t->bslots[j] = (uint32_t)nd++;
                break;
            }
            Agg *a = &t->bagg[d];
            if (same_key(a, m, h, l)) {
                if (ts[i] < a->first) a->first = ts[i];
                if (ts[i] > a->last) a->last = ts[i];
                a->packets++;
                a->bytes += wirelen[i];
                if (ttl[i] > a->ttl) a->ttl = ttl[i];
                break;
            }
        }
    }
    /* keys are distinct, so any sort gives the one order the Python code applies them in */
    qsort(t->bagg, nd, sizeof(Agg), agg_qsort_cmp);
    return nd;
}

/* Step C: apply the batch's keys in order; returns the number of entries evicted (into victim). */
static size_t apply(Table *t, size_t nd) {
    Lru *l = &t->l;
    size_t nv = 0;
    for (size_t k = 0; k < nd; k++) {
        const Agg *b = &t->bagg[k];
        uint64_t h = key_hash(t->seed, b->mac, b->hi, b->lo);
        uint32_t e = find(t, h, b->mac, b->hi, b->lo);
        if (e != NIL) {
            Agg *a = agg_at(t, e);
            if (b->first < a->first) a->first = b->first;
            if (b->last > a->last) a->last = b->last;
            a->packets += b->packets;
            a->bytes += b->bytes;
            if (b->ttl > a->ttl) a->ttl = b->ttl;
            lru_touch(l, e);
        } else {
            if ((long long)l->count >= t->cap) {
                /* count >= cap >= 1: the list is not empty */
                t->victim[nv++] = *agg_at(t, l->head);
                lru_evict(l);
                t->evicted++;
            }
            e = lru_insert(l, h);
            *agg_at(t, e) = *b;
        }
        mark_dirty(l, e);
    }
    return nv;
}

PyDoc_STRVAR(update_doc,
"update(src_mac, src_hi, src_lo, ip_version, ok, ts_ns, wirelen, ttl) -> list[tuple]\n\n"
"Add one batch: the Decoded arrays src_mac, src_hi, src_lo (uint64), ip_version, ttl (uint8),\n"
"ok (bool: decoded without error) and the batch's ts_ns (int64) and wirelen (int32), all of one\n"
"length. Returns the entries evicted meanwhile, in eviction order, as\n"
"(mac, hi, lo, first_ns, last_ns, packets, bytes, ttl) tuples.");

static PyObject *table_update(Table *t, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != N_IN) {
        PyErr_Format(PyExc_TypeError, "update takes %d arguments, not %zd", N_IN, nargs);
        return NULL;
    }
    Py_buffer in[N_IN];
    int held = 0;
    PyObject *result = NULL;
    for (; held < N_IN; held++) {
        Py_ssize_t n = held == 0 ? -1 : in[0].shape[0];
        if (get_array(args[held], &in[held], IN_SPEC[held].kind, IN_SPEC[held].size, n, 0, IN_SPEC[held].name) < 0)
            goto release;
    }
    Py_ssize_t n = in[0].shape[0];
    if ((uint64_t)n > MAX_ITEMS) {
        PyErr_SetString(PyExc_ValueError, "SightingTable.update: batch too large");
        goto release;
    }
    if (enter(t) < 0) goto release;
    if (reserve_scratch(t, (size_t)n) < 0) goto leave;
    size_t nd, nv = 0;
    Py_BEGIN_ALLOW_THREADS
    nd = aggregate(t, n, in[0].buf, in[1].buf, in[2].buf, in[3].buf, in[4].buf, in[5].buf, in[6].buf,
                   in[7].buf);
    Py_END_ALLOW_THREADS
    if (nd > 0) {
        /* the most entries the batch can leave: nothing is evicted before the cap is reached */
        uint64_t need = (uint64_t)t->l.count + nd;
        if (need > (uint64_t)t->cap) need = (uint64_t)t->cap;
        if (lru_reserve(&t->l, need, (uint64_t)t->cap, "SightingTable") < 0) goto leave;
        Py_BEGIN_ALLOW_THREADS
        nv = apply(t, nd);
        Py_END_ALLOW_THREADS
    }
    result = PyList_New((Py_ssize_t)nv);
    if (result == NULL) goto leave;
    for (size_t k = 0; k < nv; k++) {
        PyObject *row = agg_tuple(&t->victim[k]);
        if (row == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, (Py_ssize_t)k, row);
    }
leave:
    t->busy = 0;
release:
    while (held > 0) PyBuffer_Release(&in[--held]);
    return result;
}

PyDoc_STRVAR(report_doc,
"report(all_) -> list[tuple]\n\n"
"Every entry in LRU order (all_ true) or the dirty ones in the order they became dirty, as\n"
"update's tuples; then nothing is dirty.");

static PyObject *table_report(Table *t, PyObject *arg) {
    int all = PyObject_IsTrue(arg);
    if (all < 0) return NULL;
    if (enter(t) < 0) return NULL;
    /* both lists hold exactly count / ndirty entries: the result is sized once */
    const Lru *l = &t->l;
    PyObject *result = PyList_New((Py_ssize_t)(all ? l->count : l->ndirty));
    if (result != NULL) {
        Py_ssize_t k = 0;
        for (uint32_t e = all ? l->head : l->dhead; e != NIL; e = all ? lru_at(l, e)->next : lru_at(l, e)->dnext) {
            PyObject *row = agg_tuple(agg_at(t, e));
            if (row == NULL) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(result, k++, row);
        }
    }
    if (result != NULL) dirty_clear(&t->l); /* on an error the dirty set stays, as in the Python code */
    t->busy = 0;
    return result;
}

PyDoc_STRVAR(clear_doc, "clear() -> None\n\nForget every entry (and free their memory); `evicted` stays.");

static PyObject *table_clear(Table *t, PyObject *unused) {
    (void)unused;
    if (enter(t) < 0) return NULL;
    release_all(t);
    t->busy = 0;
    Py_RETURN_NONE;
}

static Py_ssize_t table_len(Table *t) { return (Py_ssize_t)t->l.count; }

static PyMethodDef table_methods[] = {
    {"update", (PyCFunction)(void (*)(void))table_update, METH_FASTCALL, update_doc},
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
"SightingTable(cap, seed=0)\n\n"
"Source (MAC, IP) aggregates of a capture, at most cap of them, least recently updated evicted\n"
"first: the C twin of wardwatch.sensor.flows.sightings.PySightingTable. seed varies the hash\n"
"(never the output).");

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "wardwatch.sensor._native.SightingTable",
    .tp_basicsize = sizeof(Table),
    .tp_dealloc = (destructor)table_dealloc,
    .tp_as_sequence = &table_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = table_doc,
    .tp_methods = table_methods,
    .tp_members = table_members,
    .tp_new = table_new,
};

int wardwatch_sightings_init(PyObject *module) { return add_type(module, &TableType, "SightingTable"); }
