/* Compiled JSON text renderer for the bulk path (tda.generation.fragments).
 *
 * render(program, n, sep) -> (bytes, offsets)
 *
 * Writes n JSON object texts straight from a batch's columns, each followed by the one-byte
 * separator `sep` (b"\n" for NDJSON, b"," for a JSON array), and returns the text with the
 * n + 1 record offsets (native int64, as bytes). It writes exactly what the Python text path
 * writes (orjson's escaping and number forms); the Python side decides, column by column, which
 * values it hands over pre-encoded.
 *
 * program: a node tree, checked here before anything is read (sizes, dtypes, lengths):
 *   (0, ((key_prefix_bytes, node), ...), closing_bytes)   an object at the current row
 *   (1, lengths)                + item node as element 2   an array: rows offsets[r]..[r+1]
 *       i.e. (1, lengths_int64_buffer, item_node)
 *   (2, kind, payload)          one scalar column at the current level's row
 * Column kinds (payload): INT64 (int64 buffer), CENTS (int64 buffer of cents), BOOL (bool
 * buffer), F64_CENTS / F64_INT / DATE / DATETIME / EPOCH (float64 buffer, NaN = null), OBJECT
 * (str, None, True, False; anything else -> fallback(value) -> bytes), TEXT (str, written as
 * they are), QUOTED (str, written between quotes as they are). The last three take a list, or
 * (object ndarray, address of its data) to read the array's slots without a list.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

enum { N_OBJECT = 0, N_ARRAY = 1, N_COLUMN = 2 };
enum {
    K_INT64 = 0, K_CENTS = 1, K_BOOL = 2, K_F64_CENTS = 3, K_F64_INT = 4,
    K_DATE = 5, K_DATETIME = 6, K_EPOCH = 7, K_OBJECT = 8, K_TEXT = 9, K_QUOTED = 10,
};

typedef struct Node Node;
struct Node {
    int type;
    /* object */
    Py_ssize_t nfields;
    const char **keys;
    Py_ssize_t *key_lens;
    Node **children;
    const char *closing;
    Py_ssize_t closing_len;
    /* array */
    int64_t *offsets; /* rows + 1 */
    Node *item;
    /* column */
    int kind;
    Py_buffer view;
    int has_view;
    PyObject **items; /* borrowed from the list in the program */
};

typedef struct {
    char *data;
    Py_ssize_t len, cap;
    PyObject *fallback;
} Out;

static int grow(Out *o, Py_ssize_t extra) {
    if (o->len + extra <= o->cap) return 0;
    Py_ssize_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < o->len + extra) cap *= 2;
    char *data = PyMem_Realloc(o->data, (size_t)cap);
    if (!data) { PyErr_NoMemory(); return -1; }
    o->data = data;
    o->cap = cap;
    return 0;
}

static inline int put(Out *o, const char *s, Py_ssize_t n) {
    if (grow(o, n) < 0) return -1;
    memcpy(o->data + o->len, s, (size_t)n);
    o->len += n;
    return 0;
}

static int put_int(Out *o, int64_t v) {
    char tmp[24];
    int i = 24;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do { tmp[--i] = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) tmp[--i] = '-';
    return put(o, tmp + i, 24 - i);
}

/* Cents as orjson writes cents / 100 (|cents| <= 10^15, checked by the caller): 19.9, 20.0. */
static int put_cents(Out *o, int64_t c) {
    char tmp[32];
    int i = 32;
    uint64_t u = c < 0 ? (uint64_t)0 - (uint64_t)c : (uint64_t)c;
    unsigned r = (unsigned)(u % 100);
    uint64_t q = u / 100;
    if (r == 0) { tmp[--i] = '0'; }
    else if (r % 10 == 0) { tmp[--i] = (char)('0' + r / 10); }
    else { tmp[--i] = (char)('0' + r % 10); tmp[--i] = (char)('0' + r / 10); }
    tmp[--i] = '.';
    do { tmp[--i] = (char)('0' + q % 10); q /= 10; } while (q);
    if (c < 0) tmp[--i] = '-';
    return put(o, tmp + i, 32 - i);
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" for epoch seconds (years 0-9999, checked by the caller);
 * Hinnant's civil-from-days, as columns.iso_texts does. */
static int put_iso(Out *o, int64_t seconds, int with_time) {
    int64_t days = floor_div(seconds, 86400);
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    char t[22];
    t[0] = '"';
    t[1] = (char)('0' + year / 1000 % 10); t[2] = (char)('0' + year / 100 % 10);
    t[3] = (char)('0' + year / 10 % 10); t[4] = (char)('0' + year % 10);
    t[5] = '-'; t[6] = (char)('0' + month / 10); t[7] = (char)('0' + month % 10);
    t[8] = '-'; t[9] = (char)('0' + day / 10); t[10] = (char)('0' + day % 10);
    if (!with_time) { t[11] = '"'; return put(o, t, 12); }
    int64_t rest = seconds - days * 86400;
    int64_t hh = rest / 3600, mm = rest / 60 % 60, ss = rest % 60;
    t[11] = 'T'; t[12] = (char)('0' + hh / 10); t[13] = (char)('0' + hh % 10);
    t[14] = ':'; t[15] = (char)('0' + mm / 10); t[16] = (char)('0' + mm % 10);
    t[17] = ':'; t[18] = (char)('0' + ss / 10); t[19] = (char)('0' + ss % 10);
    t[20] = 'Z'; t[21] = '"';
    return put(o, t, 22);
}

static const char HEX[] = "0123456789abcdef";

/* Bytes that orjson writes as they are: all but ", \ and control characters. */
static unsigned char SAFE[256];

static void init_safe(void) {
    for (int c = 0; c < 256; c++) SAFE[c] = c >= 0x20 && c != '"' && c != '\\';
}

/* A str as orjson writes it: UTF-8, with ", \ and control characters escaped. */
static int put_string(Out *o, PyObject *s) {
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (!p) return -1;
    if (grow(o, n * 6 + 2) < 0) return -1;
    char *w = o->data + o->len;
    *w++ = '"';
    Py_ssize_t i = 0;
    while (i < n) {
        Py_ssize_t run = i;
        while (run < n && SAFE[(unsigned char)p[run]]) run++;
        memcpy(w, p + i, (size_t)(run - i));
        w += run - i;
        if (run == n) break;
        unsigned char c = (unsigned char)p[run];
        i = run + 1;
        *w++ = '\\';
        switch (c) {
            case '"': *w++ = '"'; break;
            case '\\': *w++ = '\\'; break;
            case '\b': *w++ = 'b'; break;
            case '\t': *w++ = 't'; break;
            case '\n': *w++ = 'n'; break;
            case '\f': *w++ = 'f'; break;
            case '\r': *w++ = 'r'; break;
            default:
                *w++ = 'u'; *w++ = '0'; *w++ = '0';
                *w++ = HEX[c >> 4]; *w++ = HEX[c & 15];
        }
    }
    *w++ = '"';
    o->len = w - o->data;
    return 0;
}

static int put_raw_str(Out *o, PyObject *s, int quoted) {
    Py_ssize_t n;
    const char *p = PyUnicode_AsUTF8AndSize(s, &n);
    if (!p) return -1;
    if (grow(o, n + 2) < 0) return -1;
    if (quoted) o->data[o->len++] = '"';
    memcpy(o->data + o->len, p, (size_t)n);
    o->len += n;
    if (quoted) o->data[o->len++] = '"';
    return 0;
}

static int put_object_value(Out *o, PyObject *v) {
    if (PyUnicode_CheckExact(v)) return put_string(o, v);
    if (v == Py_None) return put(o, "null", 4);
    if (v == Py_True) return put(o, "true", 4);
    if (v == Py_False) return put(o, "false", 5);
    PyObject *text = PyObject_CallOneArg(o->fallback, v);
    if (!text) return -1;
    if (!PyBytes_Check(text)) {
        Py_DECREF(text);
        PyErr_SetString(PyExc_TypeError, "fallback must return bytes");
        return -1;
    }
    int rc = put(o, PyBytes_AS_STRING(text), PyBytes_GET_SIZE(text));
    Py_DECREF(text);
    return rc;
}

static int emit(Out *o, Node *node, Py_ssize_t row) {
    switch (node->type) {
    case N_OBJECT:
        for (Py_ssize_t f = 0; f < node->nfields; f++) {
            if (put(o, node->keys[f], node->key_lens[f]) < 0) return -1;
            if (emit(o, node->children[f], row) < 0) return -1;
        }
        return put(o, node->closing, node->closing_len);
    case N_ARRAY: {
        int64_t lo = node->offsets[row], hi = node->offsets[row + 1];
        if (put(o, "[", 1) < 0) return -1;
        for (int64_t r = lo; r < hi; r++) {
            if (r > lo && put(o, ",", 1) < 0) return -1;
            if (emit(o, node->item, (Py_ssize_t)r) < 0) return -1;
        }
        return put(o, "]", 1);
    }
    default: break;
    }
    const void *buf = node->has_view ? node->view.buf : NULL;
    double d;
    switch (node->kind) {
    case K_INT64: return put_int(o, ((const int64_t *)buf)[row]);
    case K_CENTS: return put_cents(o, ((const int64_t *)buf)[row]);
    case K_BOOL:
        return ((const unsigned char *)buf)[row] ? put(o, "true", 4) : put(o, "false", 5);
    case K_F64_CENTS:
    case K_F64_INT:
    case K_DATE:
    case K_DATETIME:
    case K_EPOCH:
        d = ((const double *)buf)[row];
        if (isnan(d)) return put(o, "null", 4);
        if (node->kind == K_F64_CENTS)  /* -0.0 cents: orjson writes -0.0 */
            return d == 0 && signbit(d) ? put(o, "-0.0", 4) : put_cents(o, (int64_t)d);
        if (node->kind == K_DATE || node->kind == K_DATETIME)
            return put_iso(o, (int64_t)d, node->kind == K_DATETIME);
        return put_int(o, (int64_t)d);
    case K_OBJECT: return put_object_value(o, node->items[row]);
    case K_TEXT: return put_raw_str(o, node->items[row], 0);
    case K_QUOTED: return put_raw_str(o, node->items[row], 1);
    default: break;
    }
    PyErr_SetString(PyExc_ValueError, "unknown column kind");
    return -1;
}

/* --------------------------------------------------------------------- program checking */

static void free_node(Node *node) {
    if (!node) return;
    if (node->type == N_OBJECT) {
        for (Py_ssize_t f = 0; f < node->nfields; f++) free_node(node->children[f]);
        PyMem_Free(node->keys);
        PyMem_Free(node->key_lens);
        PyMem_Free(node->children);
    } else if (node->type == N_ARRAY) {
        PyMem_Free(node->offsets);
        free_node(node->item);
    } else if (node->has_view) {
        PyBuffer_Release(&node->view);
    }
    PyMem_Free(node);
}

static int bad(const char *message) {
    PyErr_SetString(PyExc_ValueError, message);
    return -1;
}

static int column_buffer(Node *node, PyObject *payload, Py_ssize_t rows, Py_ssize_t itemsize,
                         const char *formats) {
    if (PyObject_GetBuffer(payload, &node->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    node->has_view = 1;
    const char *format = node->view.format;
    /* native byte order only: a '>' or '!' (big-endian) buffer would be read as garbage */
    if (node->view.itemsize != itemsize || !format || !*format || *format == '>' ||
        *format == '!' || !strchr(formats, format[strlen(format) - 1]))
        return bad("column of the wrong dtype");
    if (node->view.len / itemsize != rows) return bad("column length is not its level's rows");
    return 0;
}

static Node *build(PyObject *spec, Py_ssize_t rows);

static int build_object(Node *node, PyObject *spec, Py_ssize_t rows) {
    PyObject *fields = PyTuple_GET_ITEM(spec, 1), *closing = PyTuple_GET_ITEM(spec, 2);
    if (!PyTuple_Check(fields) || !PyBytes_Check(closing)) return bad("malformed object node");
    node->nfields = PyTuple_GET_SIZE(fields);
    node->closing = PyBytes_AS_STRING(closing);
    node->closing_len = PyBytes_GET_SIZE(closing);
    Py_ssize_t k = node->nfields ? node->nfields : 1;
    node->keys = PyMem_Calloc((size_t)k, sizeof(char *));
    node->key_lens = PyMem_Calloc((size_t)k, sizeof(Py_ssize_t));
    node->children = PyMem_Calloc((size_t)k, sizeof(Node *));
    if (!node->keys || !node->key_lens || !node->children) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t f = 0; f < node->nfields; f++) {
        PyObject *pair = PyTuple_GET_ITEM(fields, f);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(pair, 0)))
            return bad("malformed object field");
        node->keys[f] = PyBytes_AS_STRING(PyTuple_GET_ITEM(pair, 0));
        node->key_lens[f] = PyBytes_GET_SIZE(PyTuple_GET_ITEM(pair, 0));
        node->children[f] = build(PyTuple_GET_ITEM(pair, 1), rows);
        if (!node->children[f]) return -1;
    }
    return 0;
}

static int build_array(Node *node, PyObject *spec, Py_ssize_t rows) {
    Py_buffer lengths;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(spec, 1), &lengths, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    int ok = lengths.itemsize == 8 && lengths.format &&
             strchr("lq", lengths.format[strlen(lengths.format) - 1]) && lengths.len / 8 == rows;
    node->offsets = ok ? PyMem_Malloc(sizeof(int64_t) * (size_t)(rows + 1)) : NULL;
    if (ok && node->offsets) {
        const int64_t *len = lengths.buf;
        node->offsets[0] = 0;
        for (Py_ssize_t r = 0; r < rows; r++) {
            if (len[r] < 0) { ok = 0; break; }
            node->offsets[r + 1] = node->offsets[r] + len[r];
        }
    }
    PyBuffer_Release(&lengths);
    if (!ok) return bad("array lengths must be non-negative int64, one per row of their level");
    if (!node->offsets) { PyErr_NoMemory(); return -1; }
    node->item = build(PyTuple_GET_ITEM(spec, 2), (Py_ssize_t)node->offsets[rows]);
    return node->item ? 0 : -1;
}

static int build_column(Node *node, PyObject *spec, Py_ssize_t rows) {
    node->kind = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 1));
    if (node->kind == -1 && PyErr_Occurred()) return -1;
    PyObject *payload = PyTuple_GET_ITEM(spec, 2);
    switch (node->kind) {
    case K_INT64:
    case K_CENTS: return column_buffer(node, payload, rows, 8, "lq");
    case K_BOOL: return column_buffer(node, payload, rows, 1, "?");
    case K_F64_CENTS:
    case K_F64_INT:
    case K_DATE:
    case K_DATETIME:
    case K_EPOCH: return column_buffer(node, payload, rows, 8, "d");
    case K_OBJECT:
    case K_TEXT:
    case K_QUOTED:
        if (PyList_Check(payload) && PyList_GET_SIZE(payload) == rows) {
            node->items = ((PyListObject *)payload)->ob_item;
        } else if (PyTuple_Check(payload) && PyTuple_GET_SIZE(payload) == 2 &&
                   PyObject_Length(PyTuple_GET_ITEM(payload, 0)) == rows) {
            /* (object ndarray, its data address): the array's own PyObject* slots, no list */
            node->items = PyLong_AsVoidPtr(PyTuple_GET_ITEM(payload, 1));
            if (!node->items) return PyErr_Occurred() ? -1 : bad("null column address");
        } else {
            PyErr_Clear();
            return bad("column length is not its level's rows");
        }
        for (Py_ssize_t i = 0; i < rows; i++) {
            PyObject *v = node->items[i];
            if (!v || (node->kind != K_OBJECT && !PyUnicode_Check(v)))
                return bad("text columns hold str");
        }
        return 0;
    default: return bad("unknown column kind");
    }
}

static Node *build(PyObject *spec, Py_ssize_t rows) {
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3) {
        bad("a node is a 3-tuple");
        return NULL;
    }
    Node *node = PyMem_Calloc(1, sizeof(Node));
    if (!node) { PyErr_NoMemory(); return NULL; }
    node->type = (int)PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    int rc = node->type == N_OBJECT ? build_object(node, spec, rows)
           : node->type == N_ARRAY  ? build_array(node, spec, rows)
           : node->type == N_COLUMN ? build_column(node, spec, rows)
                                    : bad("unknown node type");
    if (rc < 0) { free_node(node); return NULL; }
    return node;
}

/* --------------------------------------------------------------------- entry point */

static PyObject *render(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *program, *fallback;
    Py_ssize_t n;
    char sep;
    if (!PyArg_ParseTuple(args, "OncO:render", &program, &n, &sep, &fallback)) return NULL;
    if (n < 0) { bad("n must be >= 0"); return NULL; }
    Node *root = build(program, n);
    if (!root) return NULL;
    Out out = {NULL, 0, 0, fallback};
    PyObject *offsets = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sizeof(int64_t) * (n + 1));
    PyObject *result = NULL;
    if (!offsets) goto done;
    int64_t *at = (int64_t *)PyBytes_AS_STRING(offsets);
    at[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (emit(&out, root, i) < 0 || put(&out, &sep, 1) < 0) goto done;
        at[i + 1] = out.len;
    }
    PyObject *text = PyBytes_FromStringAndSize(out.data ? out.data : "", out.len);
    if (text) result = Py_BuildValue("(NO)", text, offsets);
done:
    Py_XDECREF(offsets);
    PyMem_Free(out.data);
    free_node(root);
    return result;
}

static PyMethodDef methods[] = {
    {"render", render, METH_VARARGS, "render(program, n, sep, fallback) -> (bytes, offsets)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_textrender", "Compiled JSON text rendering of column batches.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__textrender(void) {
    init_safe();
    return PyModule_Create(&module);
}
