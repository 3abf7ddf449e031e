/*
 * Deygout terrain loss along site->receiver profiles sampled at every DEM
 * pixel, searched exactly by branch and bound (coverage.diffraction's
 * compiled kernel; the numpy search there computes the same result).
 *
 * A profile of `steps` steps has samples i = 1 .. steps-1 at t = i/steps.
 * Each sub-path's samples are grouped in stretches of `coarse_size` samples; a
 * stretch's Fresnel parameter is bounded from the DEM's upper envelope
 * (coverage.diffraction.upper_envelope) and the stretches are visited in
 * order of their bound, largest first, until the best v read beats the
 * next bound: no stretch left can hold a higher edge. A visited stretch is
 * bounded again by `fine_size`-sample pieces on a finer envelope, and only the
 * pieces that may beat the best are read sample by sample (bilinear, in
 * float32 as the numpy sampler reads them).
 *
 * Built by setuptools (pyproject.toml, ext-modules); needs only Python.h.
 * The loop runs without the GIL, so sites on several threads run in parallel.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define NO_LOSS_V (-0.78)
#define OFF_DEM_M (-1e9)
#define ROUNDING_SLACK_M 0.01
#define EARTH_M (4.0 / 3.0 * 6371000.0)

typedef struct {
    const float *values;
    Py_ssize_t height, width;
    const float *coarse, *fine; /* envelopes of blocks of coarse_size and fine_size pixels */
    Py_ssize_t coarse_h, coarse_w, fine_h, fine_w;
    int64_t coarse_size, fine_size; /* stretch and piece lengths (samples) */
    float col0, row0;
    double wavelength;
} Terrain;

typedef struct {
    float dcol, drow;
    int64_t steps;
    double distance;
} Profile;

typedef struct {
    int64_t a, b; /* ends (samples), exclusive */
    double ha, hb, ta, tb, slope;
    double factor; /* 2 (tb - ta) / (λ D): v = (ground - line) √(factor / ((t - ta)(tb - t))) */
} SubPath;

typedef struct {
    double v, ground;
    int64_t edge;
} Edge;

/* Bilinear value at a fractional pixel position (centres at +0.5), NaN
 * outside the grid: coverage.diffraction._bilinear in C. */
static float bilinear(const Terrain *T, float col, float row) {
    float r = row - 0.5f, c = col - 0.5f;
    Py_ssize_t h = T->height, w = T->width;
    if (!(r >= 0 && r <= (float)(h - 1) && c >= 0 && c <= (float)(w - 1)))
        return NAN;
    Py_ssize_t r0 = (Py_ssize_t)floorf(r), c0 = (Py_ssize_t)floorf(c);
    Py_ssize_t rmax = h - 2 > 0 ? h - 2 : 0, cmax = w - 2 > 0 ? w - 2 : 0;
    if (r0 > rmax) r0 = rmax;
    if (c0 > cmax) c0 = cmax;
    float fr = r - (float)r0, fc = c - (float)c0;
    fr = fr < 0 ? 0 : (fr > 1 ? 1 : fr);
    fc = fc < 0 ? 0 : (fc > 1 ? 1 : fc);
    Py_ssize_t top = r0 * w + c0;
    Py_ssize_t right = w > 1 ? 1 : 0, down = h > 1 ? w : 0;
    const float *f = T->values;
    float upper = f[top] * (1 - fc) + f[top + right] * fc;
    float lower = f[top + down] * (1 - fc) + f[top + down + right] * fc;
    return upper * (1 - fr) + lower * fr;
}

static double bulge(const Profile *P, double t) {
    return P->distance * P->distance * t * (1 - t) / (2 * EARTH_M);
}

/* Upper bound of v over the samples of [start, start + size) strictly
 * inside the sub-path, from the envelope `env` of blocks of `size` pixels;
 * -inf when there are none. lo/hi receive the samples' first and last. */
static double stretch_bound(const Terrain *T, const Profile *P, const SubPath *s, int64_t start,
                            int64_t size, const float *env, Py_ssize_t env_h, Py_ssize_t env_w,
                            int64_t *lo_out, int64_t *hi_out) {
    int64_t end = start + size - 1 < P->steps - 1 ? start + size - 1 : P->steps - 1;
    int64_t lo = start > s->a + 1 ? start : s->a + 1;
    int64_t hi = end < s->b - 1 ? end : s->b - 1;
    *lo_out = lo;
    *hi_out = hi;
    if (lo > hi) return -INFINITY;
    double steps = (double)P->steps;
    float tm = (float)((double)(start + end) / (2.0 * steps));
    float col = T->col0 + P->dcol * tm, row = T->row0 + P->drow * tm;
    Py_ssize_t br = (Py_ssize_t)floorf(row / (float)size), bc = (Py_ssize_t)floorf(col / (float)size);
    br = br < 0 ? 0 : (br > env_h - 1 ? env_h - 1 : br);
    bc = bc < 0 ? 0 : (bc > env_w - 1 ? env_w - 1 : bc);
    double t_lo = lo / steps, t_hi = hi / steps;
    double line_low = s->ha + s->slope * ((s->slope > 0 ? t_lo : t_hi) - s->ta);
    double t_peak = 0.5 < t_lo ? t_lo : (0.5 > t_hi ? t_hi : 0.5);
    double above = (double)env[br * env_w + bc] + bulge(P, t_peak) + ROUNDING_SLACK_M - line_low;
    if (above > 0) {
        /* The Fresnel factor is largest at the end nearer a sub-path end. */
        double at_lo = (t_lo - s->ta) * (s->tb - t_lo), at_hi = (t_hi - s->ta) * (s->tb - t_hi);
        return above * sqrt(s->factor / (at_lo < at_hi ? at_lo : at_hi));
    }
    double mid = (s->ta + s->tb) / 2;
    mid = mid < t_lo ? t_lo : (mid > t_hi ? t_hi : mid);
    return above * sqrt(s->factor / ((mid - s->ta) * (s->tb - mid)));
}

static void read_samples(const Terrain *T, const Profile *P, const SubPath *s, int64_t lo,
                         int64_t hi, Edge *best) {
    double steps = (double)P->steps;
    for (int64_t i = lo; i <= hi; i++) {
        double t = i / steps;
        float t32 = (float)t;
        float height = bilinear(T, T->col0 + P->dcol * t32, T->row0 + P->drow * t32);
        double ground = (isnan(height) ? OFF_DEM_M : (double)height) + bulge(P, t);
        double above = ground - (s->ha + s->slope * (t - s->ta));
        double span = (t - s->ta) * (s->tb - t);
        /* v = above * sqrt(factor / span): decided without the root when
         * the best so far is positive (most samples lose). */
        if (best->v >= 0 && (above <= 0 || above * above * s->factor <= best->v * best->v * span))
            continue;
        double v = above * sqrt(s->factor / span);
        if (v > best->v) {
            best->v = v;
            best->ground = ground;
            best->edge = i;
        }
    }
}

/* The sample of largest v strictly between the sub-path's ends (v = -0.78,
 * edge 0 when none exceeds it); stops once v reaches `stop`. `bounds` has
 * room for every coarse stretch of the profile. */
static Edge highest_edge(const Terrain *T, const Profile *P, int64_t a, int64_t b, double ha,
                         double hb, double stop, double *bounds) {
    Edge best = {NO_LOSS_V, 0.0, 0};
    if (b - a < 2) return best;
    SubPath s = {a, b, ha, hb, (double)a / P->steps, (double)b / P->steps, 0.0, 0.0};
    s.slope = (hb - ha) / (s.tb - s.ta);
    s.factor = 2 * (s.tb - s.ta) / (T->wavelength * P->distance);
    int64_t first = a / T->coarse_size, last = (b - 2 > a ? b - 2 : a) / T->coarse_size;
    int64_t count = last - first + 1;
    int64_t lo, hi;
    for (int64_t k = 0; k < count; k++)
        bounds[k] = stretch_bound(T, P, &s, 1 + (first + k) * T->coarse_size, T->coarse_size, T->coarse,
                                  T->coarse_h, T->coarse_w, &lo, &hi);
    while (best.v < stop) {
        int64_t pick = -1;
        double top = -INFINITY;
        for (int64_t k = 0; k < count; k++)
            if (bounds[k] > top) {
                top = bounds[k];
                pick = k;
            }
        if (pick < 0 || top <= best.v) break; /* no stretch left can beat it */
        bounds[pick] = -INFINITY;
        int64_t start = 1 + (first + pick) * T->coarse_size;
        for (int64_t piece = start; piece < start + T->coarse_size && best.v < stop; piece += T->fine_size) {
            double bound = stretch_bound(T, P, &s, piece, T->fine_size, T->fine, T->fine_h, T->fine_w,
                                         &lo, &hi);
            if (bound > best.v) read_samples(T, P, &s, lo, hi, &best);
        }
    }
    return best;
}

static double knife_edge_loss_db(double v) {
    if (!(v > NO_LOSS_V)) return 0.0;
    double w = v - 0.1;
    return 6.9 + 20 * log10(sqrt(w * w + 1) + w);
}

static int need(Py_buffer *view, Py_ssize_t bytes, const char *name) {
    if (view->len < bytes) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, %zd needed", name, view->len, bytes);
        return 0;
    }
    return 1;
}

static PyObject *deygout(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer values, coarse, fine, dcol, drow, steps, distance, h_rx, enough_v, out;
    Py_ssize_t height, width, coarse_h, coarse_w, fine_h, fine_w, coarse_size, fine_size;
    float col0, row0;
    double h_tx, wavelength;
    if (!PyArg_ParseTuple(args, "y*nny*nnny*nnnffy*y*y*y*dy*y*dw*", &values, &height,
                          &width, &coarse, &coarse_h, &coarse_w, &coarse_size, &fine, &fine_h,
                          &fine_w, &fine_size, &col0, &row0,
                          &dcol, &drow, &steps, &distance, &h_tx, &h_rx, &enough_v, &wavelength,
                          &out))
        return NULL;
    Py_buffer *views[] = {&values, &coarse, &fine, &dcol, &drow, &steps, &distance, &h_rx,
                          &enough_v, &out};
    Py_ssize_t n = out.len / (Py_ssize_t)sizeof(double);
    int ok = need(&values, height * width * 4, "values") &&
             need(&coarse, coarse_h * coarse_w * 4, "coarse") &&
             need(&fine, fine_h * fine_w * 4, "fine") && need(&dcol, n * 4, "dcol") &&
             need(&drow, n * 4, "drow") && need(&steps, n * 8, "steps") &&
             need(&distance, n * 8, "distance") && need(&h_rx, n * 8, "h_rx") &&
             need(&enough_v, n * 8, "enough_v") && height > 0 && width > 0 && coarse_h > 0 &&
             coarse_w > 0 && fine_h > 0 && fine_w > 0 && fine_size > 0 &&
             coarse_size % fine_size == 0;
    int64_t longest = 2;
    const int64_t *step = steps.buf;
    for (Py_ssize_t p = 0; ok && p < n; p++) {
        if (step[p] < 2) ok = 0;
        if (step[p] > longest) longest = step[p];
    }
    double *bounds = ok ? malloc(sizeof(double) * (size_t)(longest / coarse_size + 2)) : NULL;
    if (ok && bounds) {
        Terrain T = {values.buf, height, width, coarse.buf, fine.buf, coarse_h, coarse_w,
                     fine_h, fine_w, coarse_size, fine_size, col0, row0, wavelength};
        const float *dc = dcol.buf, *dr = drow.buf;
        const double *dist = distance.buf, *hr = h_rx.buf, *enough = enough_v.buf;
        double *loss = out.buf;
        Py_BEGIN_ALLOW_THREADS;
        for (Py_ssize_t p = 0; p < n; p++) {
            Profile P = {dc[p], dr[p], step[p], dist[p]};
            Edge main = highest_edge(&T, &P, 0, P.steps, h_tx, hr[p], enough[p], bounds);
            loss[p] = knife_edge_loss_db(main.v);
            /* Secondary edges only behind a blocking principal edge (see
             * coverage.diffraction.diffraction_loss_db). */
            if (main.v > 0 && main.v < enough[p]) {
                Edge left = highest_edge(&T, &P, 0, main.edge, h_tx, main.ground, INFINITY,
                                         bounds);
                Edge right = highest_edge(&T, &P, main.edge, P.steps, main.ground, hr[p],
                                          INFINITY, bounds);
                loss[p] += knife_edge_loss_db(left.v) + knife_edge_loss_db(right.v);
            }
        }
        Py_END_ALLOW_THREADS;
    } else if (ok) {
        PyErr_NoMemory();
    } else if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "empty grid or a profile of fewer than 2 steps");
    }
    free(bounds);
    for (size_t k = 0; k < sizeof(views) / sizeof(views[0]); k++) PyBuffer_Release(views[k]);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"deygout", deygout, METH_VARARGS,
     "deygout(values, height, width, coarse, ch, cw, cs, fine, fh, fw, fs, col0, row0, dcol, drow, "
     "steps, distance, h_tx, h_rx, enough_v, wavelength, out): Deygout loss (dB) per profile "
     "into out (float64); see coverage.diffraction."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_deygout",
                                    "Compiled Deygout search (coverage.diffraction).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__deygout(void) { return PyModule_Create(&module); }
