/* An LRU-ordered hash index over an array of entries, with a dirty order: what the aggregate
 * tables of wardwatch.sensor._native share (_sightings.c: SightingTable, _conversations.c:
 * ConversationTable). Each table's entry type starts with a `Links` member; the index knows
 * entries only by their index and the entry size (`stride`), the table compares keys itself.
 *
 * Layout. Entries live in one array and are named by their index (uint32_t, NIL = none), so
 * growing the array moves nothing that matters. An open-addressing hash table with linear probing
 * maps a key to its entry; removal (eviction) shifts the following run back instead of leaving
 * tombstones, so probe lengths never degrade however long the capture runs. Two intrusive doubly
 * linked lists run through the entries: the LRU order (head = least recently updated, evicted
 * first) and the dirty order (a key's first marking since the last report decides its place, as
 * in the insertion-ordered dict the Python references use). Clearing the dirty set bumps a
 * generation number instead of walking the list: an entry is dirty when its generation is the
 * index's.
 *
 * Everything is `static`: each source file that includes this gets its own copy.
 */
#ifndef WARDWATCH_LRU_H
#define WARDWATCH_LRU_H

#include "_native.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
/* Entry indices are uint32_t; NIL is reserved. */
#define MAX_ITEMS (UINT32_MAX - 1)

/* The first member of every entry. */
typedef struct {
    uint64_t hash;
    uint64_t dgen;       /* dirty when equal to the index's gen */
    uint32_t prev, next; /* LRU list; `next` also links the free list */
    uint32_t dprev, dnext;
} Links;

typedef struct {
    char *ent;     /* entries of `stride` bytes, each starting with Links */
    size_t stride;
    uint32_t ent_alloc, ent_used, free_head;
    uint32_t *slots; /* entry index or NIL; slot count = mask + 1, a power of two, or 0 */
    uint64_t mask;
    uint32_t count, ndirty;
    uint32_t head, tail;   /* LRU */
    uint32_t dhead, dtail; /* dirty */
    uint64_t gen;
} Lru;

static inline Links *lru_at(const Lru *l, uint32_t e) { return (Links *)(l->ent + (size_t)e * l->stride); }

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

/* The smallest power of two >= 2 * n (at least 16): the slot count for n items, load <= 1/2. */
static uint64_t slots_for(uint64_t n) {
    uint64_t s = 16;
    while (s < 2 * n) s <<= 1;
    return s;
}

/* An empty index of entries of `stride` bytes. */
static void lru_init(Lru *l, size_t stride) {
    memset(l, 0, sizeof(*l));
    l->stride = stride;
    l->free_head = l->head = l->tail = l->dhead = l->dtail = NIL;
    l->gen = 1; /* entries start at generation 0: not dirty */
}

/* Callers guarantee a free slot (load <= 1/2). */
static void slot_insert(uint32_t *slots, uint64_t mask, uint64_t h, uint32_t e) {
    uint64_t j = h & mask;
    while (slots[j] != NIL) j = (j + 1) & mask;
    slots[j] = e;
}

/* Remove entry `e` from the index: backward-shift deletion, so no tombstones build up. */
static void slot_remove(Lru *l, uint32_t e) {
    uint64_t mask = l->mask, i = lru_at(l, e)->hash & mask;
    while (l->slots[i] != e) i = (i + 1) & mask;
    uint64_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        uint32_t o = l->slots[j];
        if (o == NIL) break;
        uint64_t home = lru_at(l, o)->hash & mask;
        /* `o` may fill the hole at i unless its home lies cyclically in (i, j] */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            l->slots[i] = o;
            i = j;
        }
    }
    l->slots[i] = NIL;
}

static void lru_unlink(Lru *l, uint32_t e) {
    Links *x = lru_at(l, e);
    if (x->prev != NIL) lru_at(l, x->prev)->next = x->next; else l->head = x->next;
    if (x->next != NIL) lru_at(l, x->next)->prev = x->prev; else l->tail = x->prev;
}

static void lru_append(Lru *l, uint32_t e) {
    Links *x = lru_at(l, e);
    x->prev = l->tail;
    x->next = NIL;
    if (l->tail != NIL) lru_at(l, l->tail)->next = e; else l->head = e;
    l->tail = e;
}

/* The entry becomes the most recently updated. */
static void lru_touch(Lru *l, uint32_t e) {
    if (l->tail != e) {
        lru_unlink(l, e);
        lru_append(l, e);
    }
}

/* Mark dirty; an entry already dirty keeps its place (a dict key set again keeps its position). */
static inline void mark_dirty(Lru *l, uint32_t e) {
    Links *x = lru_at(l, e);
    if (x->dgen == l->gen) return;
    x->dgen = l->gen;
    l->ndirty++;
    x->dprev = l->dtail;
    x->dnext = NIL;
    if (l->dtail != NIL) lru_at(l, l->dtail)->dnext = e; else l->dhead = e;
    l->dtail = e;
}

static void dirty_unlink(Lru *l, uint32_t e) {
    Links *x = lru_at(l, e);
    if (x->dgen != l->gen) return;
    x->dgen = 0;
    l->ndirty--;
    if (x->dprev != NIL) lru_at(l, x->dprev)->dnext = x->dnext; else l->dhead = x->dnext;
    if (x->dnext != NIL) lru_at(l, x->dnext)->dprev = x->dprev; else l->dtail = x->dprev;
}

static inline void dirty_clear(Lru *l) {
    l->gen++; /* 64 bits: never wraps back to a generation an entry still holds */
    l->dhead = l->dtail = NIL;
    l->ndirty = 0;
}

/* Take entry `e` out of the lists and the index onto the free list; the caller has read it (and
 * releases what it owns). */
static void lru_remove(Lru *l, uint32_t e) {
    lru_unlink(l, e);
    dirty_unlink(l, e);
    slot_remove(l, e);
    lru_at(l, e)->next = l->free_head;
    l->free_head = e;
    l->count--;
}

/* lru_remove of the least recently updated entry, which it returns. The index must not be empty. */
static inline uint32_t lru_evict(Lru *l) {
    uint32_t v = l->head;
    lru_remove(l, v);
    return v;
}

/* A new entry with hash `h`, indexed and the most recently updated, not dirty; its payload is
 * the caller's to fill. Room must have been reserved (lru_reserve). */
static uint32_t lru_insert(Lru *l, uint64_t h) {
    uint32_t e;
    if (l->free_head != NIL) {
        e = l->free_head;
        l->free_head = lru_at(l, e)->next;
    } else {
        e = l->ent_used++; /* < ent_alloc: reserved */
    }
    Links *x = lru_at(l, e);
    x->hash = h;
    x->dgen = 0;
    slot_insert(l->slots, l->mask, h, e);
    lru_append(l, e);
    l->count++;
    return e;
}

/* Room for `need` entries (need <= cap): entry array and index, or MemoryError with nothing
 * changed. `name` names the table in the error. */
static int lru_reserve(Lru *l, uint64_t need, uint64_t cap, const char *name) {
    if (need > MAX_ITEMS) {
        PyErr_Format(PyExc_MemoryError, "%s: too many entries", name);
        return -1;
    }
    if (need > l->ent_alloc) {
        uint64_t n = (uint64_t)l->ent_alloc * 2;
        if (n < 64) n = 64;
        if (n > cap) n = cap;
        if (n > MAX_ITEMS) n = MAX_ITEMS;
        if (n < need) n = need;
        char *ent = n > SIZE_MAX / l->stride ? NULL : PyMem_RawRealloc(l->ent, (size_t)n * l->stride);
        if (ent == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        l->ent = ent;
        l->ent_alloc = (uint32_t)n;
    }
    if (l->slots == NULL || 2 * need > l->mask + 1) {
        uint64_t s = slots_for(need);
        uint32_t *slots = s > SIZE_MAX / sizeof(uint32_t) ? NULL : PyMem_RawMalloc((size_t)s * sizeof(uint32_t));
        if (slots == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(slots, 0xFF, (size_t)s * sizeof(uint32_t)); /* every slot NIL */
        for (uint32_t e = l->head; e != NIL; e = lru_at(l, e)->next) slot_insert(slots, s - 1, lru_at(l, e)->hash, e);
        PyMem_RawFree(l->slots);
        l->slots = slots;
        l->mask = s - 1;
    }
    return 0;
}

/* Free the entries and the index (the caller has released what the entries own). */
static void lru_release(Lru *l) {
    PyMem_RawFree(l->ent);
    PyMem_RawFree(l->slots);
    lru_init(l, l->stride);
}

#endif
