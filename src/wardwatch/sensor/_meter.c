/* wardwatch.sensor._native, part: meter (stub). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

int wardwatch_meter_init(PyObject *module) {
    (void)module;
    return 0;
}
