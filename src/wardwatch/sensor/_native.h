/* What the source files of wardwatch.sensor._native share (setup.py lists them). */
#ifndef WARDWATCH_NATIVE_H
#define WARDWATCH_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* Element kinds a buffer may be asked for. */
enum { K_BYTES, K_SIGNED, K_UNSIGNED, K_BOOL };

/* Acquire a C-contiguous one-dimensional buffer of `n` items of `itemsize` bytes and `kind`
 * (n < 0: any length). On failure sets an exception (naming `name`) and returns -1 with nothing
 * held. Defined in _native.c. */
#define get_array wardwatch_get_array /* a prefixed symbol: the .so exports it */
int get_array(PyObject *obj, Py_buffer *view, int kind, Py_ssize_t itemsize, Py_ssize_t n, int writable,
              const char *name);

/* Ready `type` and add it to `module` as `name`; -1 with an exception set. Defined in _native.c. */
#define add_type wardwatch_add_type
int add_type(PyObject *module, PyTypeObject *type, const char *name);

/* A flow's uid (flow_uid of _uid.c) from ASCII texts: a new str, None (new reference) when a text
 * does not fit, or NULL with an exception set. Defined in _uid.c. */
PyObject *wardwatch_flow_uid_text(const char *prefix, Py_ssize_t plen, const char *lo, Py_ssize_t lolen,
                                  long long lo_port, const char *hi, Py_ssize_t hilen, long long hi_port,
                                  long long first_ns);

/* ConversationTable (_conversations.c) for the flow table: whether `o` is one, and its add with
 * the key's parts (the IPs exact str or None, checked by the caller): the evicted row or None
 * (new references), NULL with an exception. */
int wardwatch_is_conversation_table(PyObject *o);
PyObject *wardwatch_conversation_add(PyObject *table, PyObject *client_ip, uint64_t client_mac, PyObject *server_ip,
                                     uint64_t server_mac, long long tcode, long long port, long long first_ns,
                                     long long last_ns, long long packets, long long bytes);

/* Each other source file adds its functions and types to the module; -1 with an exception set. */
int wardwatch_sightings_init(PyObject *module);
int wardwatch_meter_init(PyObject *module);
int wardwatch_uid_init(PyObject *module);
int wardwatch_conversations_init(PyObject *module);
int wardwatch_flowtable_init(PyObject *module);

#endif
