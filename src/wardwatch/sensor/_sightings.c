/* wardwatch.sensor._native, part: sightings (stub). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

int wardwatch_sightings_init(PyObject *module) {
    (void)module;
    return 0;
}
