/* wardwatch.sensor._native, part: the flow meter's per-batch prologue (ADR 012, first step).
 *
 * FlowMeter.process (flows/meter.py) starts every batch with some seventy NumPy steps over its
 * packets: the five key columns of each packet's flow, a hash of them, then, in flow order, the
 * direction, the TCP role bits, the prefix sums and the cut into segments. These two functions do
 * the same in two passes, with NumPy's sort between them:
 *
 * meter_keys      decoded arrays -> the ok packets' positions, key columns, directions and the
 *                 keyed hash that FlowMeter sorts (meter.py: _group_order);
 * meter_segments  the sort's order -> the sorted view (BatchView), the prefix sums that
 *                 FlowMeter._slow reads, and one tuple per segment, as the NumPy code builds them.
 *
 * meter.py keeps the NumPy code (``_prologue_numpy``) as the reference: it runs where this
 * module is not built or WARDWATCH_PURE_PYTHON is set, and the tests (Hypothesis) hold the two
 * equal. Integer steps follow NumPy's: unsigned 64-bit arithmetic wraps, signed differences are
 * taken modulo 2^64 like np.diff on int64. Every index read from an input is bounds-checked.
 */
#include "_native.h"

#include "_meter.h"

#include <stdint.h>

/* TCP flag bits (decode.py) */
#define F_FIN 0x01
#define F_SYN 0x02
#define F_RST 0x04
#define F_ACK 0x10
#define P1 0x9E3779B97F4A7C15ULL
#define P2 0xBF58476D1CE4E5B9ULL
#define IDX_BITS 24

/* --- meter_keys ------------------------------------------------------------------------------- */
PyDoc_STRVAR(meter_keys_doc,
"meter_keys(error, transport, ip_proto, vlan, src_hi, src_lo, dst_hi, dst_lo, src_port, dst_port,\n"
"           ethertype, src_mac, idx, c0, c1, c2, c3, c4, from_lo, keyed) -> m\n\n"
"The first half of FlowMeter.process for one batch of n decoded packets (Decoded's arrays, in its\n"
"dtypes): the m packets without a decode error, in batch order, get their batch index (idx), the\n"
"five uint64 key columns of their flow, whether they were sent by the flow's lower endpoint, and\n"
"the keyed hash (the hash's top 40 bits, the position among the m in the low 24) whose sort puts\n"
"each flow's packets together in capture order. Outputs are n long; the first m are written.\n"
"Raises ValueError for arrays of the wrong type or length, or n >= 2**24 (use the NumPy path).");

enum { K_IN = 12, K_OUT = 8 };

static PyObject *meter_keys(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    static const struct { int kind; Py_ssize_t size; const char *name; } spec[K_IN + K_OUT] = {
        {K_UNSIGNED, 1, "error"},  {K_UNSIGNED, 1, "transport"}, {K_UNSIGNED, 1, "ip_proto"},
        {K_SIGNED, 4, "vlan"},     {K_UNSIGNED, 8, "src_hi"},    {K_UNSIGNED, 8, "src_lo"},
        {K_UNSIGNED, 8, "dst_hi"}, {K_UNSIGNED, 8, "dst_lo"},    {K_SIGNED, 4, "src_port"},
        {K_SIGNED, 4, "dst_port"}, {K_SIGNED, 8, "ethertype"},   {K_UNSIGNED, 8, "src_mac"},
        {K_SIGNED, 8, "idx"},      {K_UNSIGNED, 8, "c0"},        {K_UNSIGNED, 8, "c1"},
        {K_UNSIGNED, 8, "c2"},     {K_UNSIGNED, 8, "c3"},        {K_UNSIGNED, 8, "c4"},
        {K_BOOL, 1, "from_lo"},    {K_UNSIGNED, 8, "keyed"},
    };
    if (nargs != K_IN + K_OUT) {
        PyErr_Format(PyExc_TypeError, "meter_keys takes %d arguments, not %zd", K_IN + K_OUT, nargs);
        return NULL;
    }
    Py_buffer b[K_IN + K_OUT];
    int held = 0;
    PyObject *result = NULL;
    Py_ssize_t n = -1;
    for (; held < K_IN + K_OUT; held++) {
        if (get_array(args[held], &b[held], spec[held].kind, spec[held].size, n, held >= K_IN,
                      spec[held].name) < 0)
            goto release;
        if (held == 0) n = b[0].shape[0];
    }
    if (n >= (Py_ssize_t)1 << IDX_BITS) {
        PyErr_SetString(PyExc_ValueError, "meter_keys: batches of 2**24 packets or more take the NumPy path");
        goto release;
    }
    const uint8_t *error = b[0].buf, *transport = b[1].buf, *ip_proto = b[2].buf;
    const int32_t *vlan = b[3].buf;
    const uint64_t *src_hi = b[4].buf, *src_lo = b[5].buf, *dst_hi = b[6].buf, *dst_lo = b[7].buf;
    const int32_t *src_port = b[8].buf, *dst_port = b[9].buf;
    const int64_t *ethertype = b[10].buf;
    const uint64_t *src_mac = b[11].buf;
    int64_t *idx = b[12].buf;
    uint64_t *c0 = b[13].buf, *c1 = b[14].buf, *c2 = b[15].buf, *c3 = b[16].buf, *c4 = b[17].buf;
    uint8_t *from_lo = b[18].buf;
    uint64_t *keyed = b[19].buf;
    Py_ssize_t m = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (error[i] != 0) continue;
        uint64_t sh = src_hi[i], sl = src_lo[i], dh = dst_hi[i], dl = dst_lo[i];
        /* NumPy's astype(uint64) of an int32: sign-extended, then wrapped */
        uint64_t sp = (uint64_t)(int64_t)src_port[i], dp = (uint64_t)(int64_t)dst_port[i];
        int l2 = transport[i] == T_L2;
        int lo = l2 || sh < dh || (sh == dh && (sl < dl || (sl == dl && sp <= dp)));
        uint64_t lo_p = lo ? sp : dp, hi_p = lo ? dp : sp;
        uint64_t k0 = (uint64_t)ip_proto[i] << 56 | ((uint64_t)((int64_t)vlan[i] + 1)) << 40 |
                      (uint64_t)transport[i] << 32 | lo_p << 16 | hi_p;
        uint64_t k1, k2, k3, k4;
        if (l2) {
            k1 = (uint64_t)ethertype[i];
            k2 = src_mac[i];
            k3 = 0;
            k4 = 0;
        } else {
            k1 = lo ? sh : dh;
            k2 = lo ? sl : dl;
            k3 = lo ? dh : sh;
            k4 = lo ? dl : sl;
        }
        uint64_t h = k0;
        h = (h ^ k1) * P1;
        h ^= h >> 29;
        h = (h ^ k2) * P1;
        h ^= h >> 29;
        h = (h ^ k3) * P1;
        h ^= h >> 29;
        h = (h ^ k4) * P1;
        h ^= h >> 29;
        h = (h ^ (h >> 32)) * P2;
        idx[m] = i;
        c0[m] = k0;
        c1[m] = k1;
        c2[m] = k2;
        c3[m] = k3;
        c4[m] = k4;
        from_lo[m] = (uint8_t)lo;
        keyed[m] = (h & ~((1ULL << IDX_BITS) - 1)) | (uint64_t)m;
        m++;
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(m);
release:
    while (held > 0) PyBuffer_Release(&b[--held]);
    return result;
}

/* --- meter_segments --------------------------------------------------------------------------- */
PyDoc_STRVAR(meter_segments_doc,
"meter_segments(m, order, idx, c0, c1, c2, c3, c4, from_lo, transport, ts_ns, wirelen, tcp_flags,\n"
"               src_mac, dst_mac, idle_lut, orig, ts_s, from_lo_s, bits, cnl, cb, cbl) -> list\n\n"
"The second half of FlowMeter.process's set-up, after the sort: with order (m long: positions\n"
"among the m ok packets of meter_keys, in flow order) it fills the sorted view (orig: batch\n"
"index, ts_s, from_lo_s, bits: m long), the prefix sums cnl, cb, cbl (m + 1 long: packets from\n"
"lo, bytes, bytes from lo) and returns the segments as 12 lists (columns, one entry per segment):\n"
"key tuple, start, end, first ts, last ts, OR of bits, from_lo of its first packet, its source\n"
"MAC, its destination MAC, packets from lo, bytes, bytes from lo. A segment is a run of one key\n"
"with no gap longer than\n"
"idle_lut[transport] (6 int64) between packets. The per-packet inputs after from_lo are n long\n"
"(the batch). Raises ValueError for wrong arrays or an index out of range.");

enum { S_IN = 15, S_OUT = 7 };

/* meter_segments (columns true) or meter_view (false: pass 1 only, the segment count) */
static PyObject *segments_impl(PyObject *const *args, Py_ssize_t nargs, int columns) {
    static const struct { int kind; Py_ssize_t size; const char *name; } spec[S_IN + S_OUT] = {
        {K_SIGNED, 8, "order"},      {K_SIGNED, 8, "idx"},          {K_UNSIGNED, 8, "c0"},
        {K_UNSIGNED, 8, "c1"},       {K_UNSIGNED, 8, "c2"},         {K_UNSIGNED, 8, "c3"},
        {K_UNSIGNED, 8, "c4"},       {K_BOOL, 1, "from_lo"},        {K_UNSIGNED, 1, "transport"},
        {K_SIGNED, 8, "ts_ns"},      {K_SIGNED, 4, "wirelen"},      {K_SIGNED, 4, "tcp_flags"},
        {K_UNSIGNED, 8, "src_mac"},  {K_UNSIGNED, 8, "dst_mac"},    {K_SIGNED, 8, "idle_lut"},
        {K_SIGNED, 8, "orig"},       {K_SIGNED, 8, "ts_s"},         {K_BOOL, 1, "from_lo_s"},
        {K_SIGNED, 8, "bits"},       {K_SIGNED, 8, "cnl"},          {K_SIGNED, 8, "cb"},
        {K_SIGNED, 8, "cbl"},
    };
    if (nargs != 1 + S_IN + S_OUT) {
        PyErr_Format(PyExc_TypeError, "%s takes %d arguments, not %zd", columns ? "meter_segments" : "meter_view",
                     1 + S_IN + S_OUT, nargs);
        return NULL;
    }
    Py_ssize_t m = PyLong_AsSsize_t(args[0]);
    if (m == -1 && PyErr_Occurred()) return NULL;
    if (m < 0) {
        PyErr_SetString(PyExc_ValueError, "meter_segments: m must not be negative");
        return NULL;
    }
    Py_buffer b[S_IN + S_OUT];
    int held = 0;
    PyObject *result = NULL, *segs = NULL;
    Py_ssize_t n = -1;
    for (; held < S_IN + S_OUT; held++) {
        /* lengths: the first eight and the view outputs m; the batch arrays n (the first of them
         * sets it, at least m); idle_lut 6; the prefix sums m + 1 */
        Py_ssize_t want = held < 8 ? -1 : held < 14 ? n : held == 14 ? N_TRANSPORTS : held < 19 ? m : m + 1;
        if (get_array(args[1 + held], &b[held], spec[held].kind, spec[held].size, want, held >= S_IN,
                      spec[held].name) < 0)
            goto release;
        if (held < 8 && b[held].shape[0] < m) {
            PyErr_Format(PyExc_ValueError, "%s is shorter than m", spec[held].name);
            held++;
            goto release;
        }
        if (held == 8) n = b[8].shape[0];
    }
    const int64_t *order = b[0].buf, *idx = b[1].buf;
    const uint64_t *c[5] = {b[2].buf, b[3].buf, b[4].buf, b[5].buf, b[6].buf};
    const uint8_t *from_lo = b[7].buf, *transport = b[8].buf;
    const int64_t *ts = b[9].buf;
    const int32_t *wirelen = b[10].buf, *tcp_flags = b[11].buf;
    const uint64_t *src_mac = b[12].buf, *dst_mac = b[13].buf;
    const int64_t *idle_lut = b[14].buf;
    int64_t *orig = b[15].buf, *ts_s = b[16].buf;
    uint8_t *from_lo_s = b[17].buf;
    int64_t *bits = b[18].buf, *cnl = b[19].buf, *cb = b[20].buf, *cbl = b[21].buf;
    for (Py_ssize_t k = 0; k < m; k++) {
        if (order[k] < 0 || order[k] >= m || idx[order[k]] < 0 || idx[order[k]] >= n ||
            transport[idx[order[k]]] >= N_TRANSPORTS) {
            PyErr_Format(PyExc_ValueError, "meter_segments: sorted position %zd is out of range", k);
            goto release;
        }
    }
    /* pass 1 (no Python objects): the sorted view, the prefix sums, the segment count */
    Py_ssize_t nseg = 0;
    Py_BEGIN_ALLOW_THREADS
    cnl[0] = cb[0] = cbl[0] = 0;
    for (Py_ssize_t k = 0; k < m; k++) {
        int64_t o = order[k], i = idx[o];
        int lo = from_lo[o] != 0;
        int32_t fl = tcp_flags[i];
        int64_t bt = 0;
        if (fl & F_SYN) bt |= (fl & F_ACK) ? (lo ? B_SYNACK_LO : B_SYNACK_HI) : (lo ? B_SYN_LO : B_SYN_HI);
        if (fl & F_FIN) bt |= B_FIN;
        if (fl & F_RST) bt |= B_RST;
        orig[k] = i;
        ts_s[k] = ts[i];
        from_lo_s[k] = (uint8_t)lo;
        bits[k] = bt;
        int64_t wl = wirelen[i];
        cnl[k + 1] = cnl[k] + lo;
        cb[k + 1] = cb[k] + wl;
        cbl[k + 1] = cbl[k] + (lo ? wl : 0);
        int cut = k == 0;
        if (!cut) {
            int64_t gap = (int64_t)((uint64_t)ts[i] - (uint64_t)ts_s[k - 1]); /* np.diff wraps */
            int64_t o1 = order[k - 1];
            cut = gap > idle_lut[transport[i]] || c[0][o] != c[0][o1] || c[1][o] != c[1][o1] ||
                  c[2][o] != c[2][o1] || c[3][o] != c[3][o1] || c[4][o] != c[4][o1];
        }
        nseg += cut;
    }
    Py_END_ALLOW_THREADS
    if (!columns) {
        result = PyLong_FromSsize_t(nseg);
        goto release;
    }
    /* pass 2: the segments, as columns: a list of key tuples and eleven lists of values. Python
     * zips them (zip reuses its result tuple, so no tuple per segment is made and freed) */
    segs = PyList_New(12);
    if (segs == NULL) goto release;
    for (int q = 0; q < 12; q++) {
        PyObject *col = PyList_New(nseg);
        if (col == NULL) goto release;
        PyList_SET_ITEM(segs, q, col);
    }
    PyObject **cols[12];
    for (int q = 0; q < 12; q++) cols[q] = ((PyListObject *)PyList_GET_ITEM(segs, q))->ob_item;
    Py_ssize_t s = 0, j = 0;
    while (s < m) {
        int64_t o = order[s];
        Py_ssize_t e = s + 1;
        int64_t sb = bits[s], tmax = ts_s[s];
        while (e < m) {
            int64_t oe = order[e], op = order[e - 1];
            int64_t gap = (int64_t)((uint64_t)ts_s[e] - (uint64_t)ts_s[e - 1]);
            if (gap > idle_lut[transport[orig[e]]] || c[0][oe] != c[0][op] || c[1][oe] != c[1][op] ||
                c[2][oe] != c[2][op] || c[3][oe] != c[3][op] || c[4][oe] != c[4][op])
                break;
            sb |= bits[e];
            if (ts_s[e] > tmax) tmax = ts_s[e];
            e++;
        }
        if (j >= nseg) { /* cannot happen: pass 1 counted the same cuts */
            PyErr_SetString(PyExc_RuntimeError, "meter_segments: segment count mismatch");
            goto release;
        }
        PyObject *key = PyTuple_New(5);
        if (key == NULL) goto release;
        cols[0][j] = key; /* owned by the list from here: its dealloc frees what is set */
        for (int q = 0; q < 5; q++) {
            PyObject *v = PyLong_FromUnsignedLongLong(c[q][o]);
            if (v == NULL) goto release;
            PyTuple_SET_ITEM(key, q, v);
        }
        int64_t i0 = orig[s];
        /* the PyLong constructors directly, not Py_BuildValue: its format is parsed anew per
         * call, which cost more than the rest of a segment (a scan has one segment per flow) */
        PyObject *vals[11] = {
            PyLong_FromSsize_t(s),
            PyLong_FromSsize_t(e),
            PyLong_FromLongLong(ts_s[s]),
            PyLong_FromLongLong(tmax),
            PyLong_FromLongLong(sb),
            Py_NewRef(from_lo_s[s] ? Py_True : Py_False),
            PyLong_FromUnsignedLongLong(src_mac[i0]),
            PyLong_FromUnsignedLongLong(dst_mac[i0]),
            PyLong_FromLongLong(cnl[e] - cnl[s]),
            PyLong_FromLongLong(cb[e] - cb[s]),
            PyLong_FromLongLong(cbl[e] - cbl[s]),
        };
        int failed = 0;
        for (int q = 0; q < 11; q++) {
            cols[q + 1][j] = vals[q];
            failed |= vals[q] == NULL;
        }
        if (failed) goto release;
        j++;
        s = e;
    }
    if (j != nseg) {
        PyErr_SetString(PyExc_RuntimeError, "meter_segments: segment count mismatch");
        goto release;
    }
    result = segs;
    segs = NULL;
release:
    Py_XDECREF(segs);
    while (held > 0) PyBuffer_Release(&b[--held]);
    return result;
}

static PyObject *meter_segments(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    return segments_impl(args, nargs, 1);
}

PyDoc_STRVAR(meter_view_doc,
"meter_view(m, order, idx, c0, c1, c2, c3, c4, from_lo, transport, ts_ns, wirelen, tcp_flags,\n"
"           src_mac, dst_mac, idle_lut, orig, ts_s, from_lo_s, bits, cnl, cb, cbl) -> int\n\n"
"meter_segments without the segments: it fills the sorted view and the prefix sums and returns\n"
"the number of segments (FlowTable.process walks them itself).");

static PyObject *meter_view(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    return segments_impl(args, nargs, 0);
}

static PyMethodDef meter_methods[] = {
    {"meter_view", (PyCFunction)(void (*)(void))meter_view, METH_FASTCALL, meter_view_doc},
    {"meter_keys", (PyCFunction)(void (*)(void))meter_keys, METH_FASTCALL, meter_keys_doc},
    {"meter_segments", (PyCFunction)(void (*)(void))meter_segments, METH_FASTCALL, meter_segments_doc},
    {NULL, NULL, 0, NULL},
};

int wardwatch_meter_init(PyObject *module) { return PyModule_AddFunctions(module, meter_methods); }
