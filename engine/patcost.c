/* patcost.c: a bound on the steps Lua's pattern matcher (lstrlib.c) can take for a pattern on
 * a subject of a given length, so the sandbox can refuse a match before it runs (patcost.h;
 * the reasoning is below). */
#include "patcost.h"
#include "sandbox.h" /* MP_SANDBOX_PATTERN_LIMIT */

#include <ctype.h>
#include <stdint.h>
#include <string.h>

/*
 * Lua's matcher (lstrlib.c) backtracks in C, where the instruction budget cannot see it: one
 * string.find can run for hours. So string.find, match, gmatch and gsub are wrapped (upvalue 1:
 * the original, reachable from C only), and each wrapper bounds, before the original runs, the
 * steps the matcher can take on this pattern for a subject of this length, and refuses the call
 * when the bound passes MP_SANDBOX_PATTERN_LIMIT. Plain finds are done with memmem (linear:
 * lstrlib's own plain search is O(n * m)) and never refused.
 *
 * A step is one match() call, one byte tested against a class (a [set] costs its length), one
 * byte scanned by %b or compared by a back-reference. n is the length of the subject from init,
 * N = n + 1 the positions in it. The bound is the least of two:
 *
 * crude: every quantifier may try every length, so an item costs a + b * (the rest), with
 *   class*, class+, class-: a = N * (class + 1), b = N;  class?: b = 2;  %b, %1: a = N;  others
 *   b = 1. One attempt costs at most C = the whole tree; N attempts at most N * C (gmatch and
 *   gsub: 3N * C, as each position may fail once and match twice, the second time rejected as
 *   an empty match where the last one ended). One pass, no memory.
 *
 * precise: walking the items from the end, for the rest R of the pattern after each item:
 *   fail(R)     the most a failing attempt of R takes,
 *   succ(R)     the most a succeeding one takes beyond K steps per byte it consumes,
 *   first(R)    the bytes (and the end of the subject) at which R can do more than fail after
 *               shallow(R) steps, and always(R): R cannot fail.
 *   A quantified class X before R is one of three cases:
 *   - always(R): its first try succeeds (greedy takes the longest run, lazy none): no branching;
 *   - X and first(R) are disjoint: every try but one starts R on a byte of X, outside first(R),
 *     and fails shallowly, so only one try goes deep: fail = N * (X + shallow(R)) + fail(R);
 *   - otherwise every try may go deep: fail = N * (X + fail(R)), succ = that + succ(R).
 *   A class+ is X then class*; class? tries at most twice. So "%s*(.-)%s*$" is quadratic, not
 *   cubic: .- can reach the end, where %s*$ succeeds, so the first %s* never backtracks.
 *   A success consumes what its greedy and disjoint items scanned, so gmatch and gsub, whose
 *   matches do not overlap, pay K per byte once in all: N * fail + 2N * succ + K * n.
 *   find and match: N * fail + succ + K * n; anchored (and gsub with '^'): one attempt.
 *   It needs the items in an array: a pattern with more than PATTERN_ITEMS items (runs of
 *   plain classes count as one) gets the crude bound only.
 *
 * Both walk the pattern as match() does (classEnd, %b, %f, '$' only last, '^' only first and not
 * for gmatch); a malformed item raises an error when the matcher reaches it, which ends the call,
 * so the walk stops there. The wrappers take O(pattern length) time and no heap memory, and read
 * the same coerced strings (luaL_checklstring) that the originals then read.
 */

enum {
	PATTERN_ITEMS = 64, /* items the precise bound can hold (on the C stack) */
};

#define COST_MAX 1e30 /* costs saturate here: no overflow, no infinities */

/* A set of subject bytes, and bit 256 for the end of the subject. */
typedef struct charset {
	uint64_t w[5];
} charset;

/* The byte classes of lstrlib's match_class, computed with the same ctype calls, once a call. */
struct class_cache {
	unsigned have; /* bit i: cls[i] is filled */
	charset cls[11];
};

static const char class_letters[] = "acdglpsuwxz";

enum item_kind {
	ITEM_RUN,      /* one or more single-byte classes without a quantifier */
	ITEM_STAR,     /* class* */
	ITEM_PLUS,     /* class+ */
	ITEM_LAZY,     /* class- */
	ITEM_OPTIONAL, /* class? */
	ITEM_CAPTURE,  /* (, () or ) */
	ITEM_END,      /* $ as the last byte */
	ITEM_BALANCE,  /* %bxy */
	ITEM_FRONTIER, /* %f[set] */
	ITEM_BACKREF,  /* %0-%9 */
	ITEM_ERROR,    /* malformed: the matcher raises an error when it gets here */
};

struct pattern_item {
	enum item_kind kind;
	const char *cls;   /* the class (of a run: the first), the set of %f, the x of %bxy */
	size_t cls_len;    /* its bytes */
	double cost;       /* steps to test a byte against the class (a run: all its classes) */
	double first_cost; /* of a run: the steps of its first class */
};

static double cost_add(double a, double b)
{
	return a + b < COST_MAX ? a + b : COST_MAX;
}

static double cost_mul(double a, double b)
{
	return a * b < COST_MAX ? a * b : COST_MAX;
}

static void cs_add(charset *s, unsigned c)
{
	s->w[c >> 6] |= (uint64_t)1 << (c & 63);
}

static void cs_add_range(charset *s, unsigned lo, unsigned hi)
{
	unsigned w, a, b;

	for (w = lo >> 6; w <= hi >> 6; w++) {
		a = w == lo >> 6 ? lo & 63 : 0;
		b = w == hi >> 6 ? hi & 63 : 63;
		s->w[w] |= (~(uint64_t)0 >> (63 - (b - a))) << a;
	}
}

static void cs_union(charset *s, const charset *t, int complement)
{
	int i;

	for (i = 0; i < 4; i++)
		s->w[i] |= complement ? ~t->w[i] : t->w[i];
	if (!complement)
		s->w[4] |= t->w[4];
}

static int cs_disjoint(const charset *s, const charset *t)
{
	int i;

	for (i = 0; i < 5; i++)
		if (s->w[i] & t->w[i])
			return 0;
	return 1;
}

static int cs_all_bytes(const charset *s)
{
	return !~(s->w[0] & s->w[1] & s->w[2] & s->w[3]);
}

static charset cs_everything(void)
{
	charset s = {{~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0, ~(uint64_t)0, 1}};

	return s;
}

static int class_member(int letter, int c)
{
	switch (letter) {
	case 'a':
		return isalpha(c);
	case 'c':
		return iscntrl(c);
	case 'd':
		return isdigit(c);
	case 'g':
		return isgraph(c);
	case 'l':
		return islower(c);
	case 'p':
		return ispunct(c);
	case 's':
		return isspace(c);
	case 'u':
		return isupper(c);
	case 'w':
		return isalnum(c);
	case 'x':
		return isxdigit(c);
	default: /* 'z' */
		return c == 0;
	}
}

/* Adds the bytes the escape %cl matches (match_class). */
static void add_escape(charset *s, unsigned char cl, struct class_cache *cc)
{
	int lower = tolower(cl), i, c;
	const char *at = lower ? strchr(class_letters, lower) : NULL;

	if (!at) {
		cs_add(s, cl);
		return;
	}
	i = (int)(at - class_letters);
	if (!(cc->have & 1u << i)) {
		memset(&cc->cls[i], 0, sizeof cc->cls[i]);
		for (c = 0; c < 256; c++)
			if (class_member(lower, c))
				cs_add(&cc->cls[i], (unsigned)c);
		cc->have |= 1u << i;
	}
	cs_union(s, &cc->cls[i], !islower(cl));
}

/* The bytes the class at p (len bytes: '.', %x, [set] or one byte) matches (singlematch). */
static charset class_bytes(const char *p, size_t len, struct class_cache *cc)
{
	charset s = {{0}}, set = {{0}};
	const char *ec = p + len - 1; /* a set's ']' */
	int negate;

	if (*p == '.') {
		cs_union(&s, &set, 1); /* all bytes, not the end */
		return s;
	}
	if (*p == '%') {
		add_escape(&s, (unsigned char)p[1], cc);
		return s;
	}
	if (*p != '[') {
		cs_add(&s, (unsigned char)*p);
		return s;
	}
	negate = p[1] == '^'; /* matchbracketclass, step by step */
	if (negate)
		p++;
	while (++p < ec) {
		if (*p == '%') {
			p++;
			add_escape(&set, (unsigned char)*p, cc);
		} else if (p[1] == '-' && p + 2 < ec) {
			p += 2;
			if ((unsigned char)p[-2] <= (unsigned char)*p)
				cs_add_range(&set, (unsigned char)p[-2], (unsigned char)*p);
		} else {
			cs_add(&set, (unsigned char)*p);
		}
	}
	cs_union(&s, &set, negate);
	return s;
}

/* lstrlib's classEnd: where the class at p ends, or NULL if it is malformed. */
static const char *class_end(const char *p, const char *end)
{
	if (*p == '%')
		return p + 1 < end ? p + 2 : NULL;
	if (*p++ != '[')
		return p;
	if (p < end && *p == '^')
		p++;
	do { /* the first byte is in the set even if it is ']' */
		if (p == end)
			return NULL;
		if (*p++ == '%' && p < end)
			p++;
	} while (p == end || *p != ']');
	return p + 1;
}

/* Reads the item at p (p < end) as match() does; returns where the next one begins. */
static const char *next_item(const char *p, const char *end, struct pattern_item *it)
{
	const char *ep;

	it->cls = p;
	it->cls_len = 1;
	it->cost = it->first_cost = 1;
	switch (*p) {
	case '(':
		it->kind = ITEM_CAPTURE;
		return p + 1 < end && p[1] == ')' ? p + 2 : p + 1;
	case ')':
		it->kind = ITEM_CAPTURE;
		return p + 1;
	case '$':
		if (p + 1 != end)
			break;
		it->kind = ITEM_END;
		return end;
	case '%':
		if (p + 1 < end && p[1] == 'b') {
			it->kind = end - p >= 4 ? ITEM_BALANCE : ITEM_ERROR;
			it->cls = p + 2;
			return it->kind == ITEM_BALANCE ? p + 4 : end;
		}
		if (p + 1 < end && p[1] == 'f') {
			ep = p + 2 < end && p[2] == '[' ? class_end(p + 2, end) : NULL;
			it->kind = ep ? ITEM_FRONTIER : ITEM_ERROR;
			if (!ep)
				return end;
			it->cls = p + 2;
			it->cls_len = (size_t)(ep - it->cls);
			it->cost = 2 * (double)it->cls_len;
			return ep;
		}
		if (p + 1 < end && p[1] >= '0' && p[1] <= '9') {
			it->kind = ITEM_BACKREF;
			return p + 2;
		}
		break;
	}
	ep = class_end(p, end);
	if (!ep) {
		it->kind = ITEM_ERROR;
		return end;
	}
	it->cls_len = (size_t)(ep - p);
	it->cost = it->first_cost = *p == '[' ? (double)it->cls_len : 1;
	it->kind = ITEM_RUN;
	if (ep == end)
		return ep;
	switch (*ep) {
	case '*':
		it->kind = ITEM_STAR;
		return ep + 1;
	case '+':
		it->kind = ITEM_PLUS;
		return ep + 1;
	case '-':
		it->kind = ITEM_LAZY;
		return ep + 1;
	case '?':
		it->kind = ITEM_OPTIONAL;
		return ep + 1;
	default:
		return ep;
	}
}

/* Total steps of all attempts, given the cost of one failing and of one succeeding attempt. */
static double attempts_cost(enum mp_patcost_attempts how, double n, double fail, double succ,
                            double per_byte)
{
	double positions = n + 1, consumed = cost_mul(per_byte, n);

	fail = cost_add(fail, 1); /* an attempt is a match() call */
	succ = cost_add(succ, 1);

	switch (how) {
	case MP_ATTEMPT_ONCE:
		return fail > cost_add(succ, consumed) ? fail : cost_add(succ, consumed);
	case MP_ATTEMPT_UNTIL_MATCH:
		return cost_add(cost_mul(positions, fail), cost_add(succ, consumed));
	default:
		return cost_add(cost_mul(positions, fail),
		                cost_add(cost_mul(2 * positions, succ), consumed));
	}
}

/* The crude bound, in one pass; stores the items (runs merged) in items[PATTERN_ITEMS] and sets
 * *count, or sets it to PATTERN_ITEMS + 1 if they do not fit. */
static double crude_cost(const char *p, size_t len, double n, enum mp_patcost_attempts how,
                         struct pattern_item *items, size_t *count)
{
	const char *end = p + len;
	double positions = n + 1, add = 0, mul = 1, a, b;
	struct pattern_item it;

	*count = 0;
	while (p < end) {
		p = next_item(p, end, &it);
		switch (it.kind) {
		case ITEM_STAR: /* a first test, counting, then a match() call a try */
		case ITEM_PLUS:
		case ITEM_LAZY:
			a = cost_add(cost_mul(positions, it.cost + 1), it.cost), b = positions;
			break;
		case ITEM_OPTIONAL:
			a = it.cost + 2, b = 2;
			break;
		case ITEM_BALANCE:
		case ITEM_BACKREF:
			a = positions, b = 1;
			break;
		case ITEM_END:
		case ITEM_ERROR:
			a = 1, b = 0; /* nothing after it is reached */
			break;
		default:
			a = it.cost, b = 1;
			break;
		}
		add = cost_add(add, cost_mul(mul, a));
		mul = cost_mul(mul, b);
		if (it.kind == ITEM_RUN && *count > 0 && *count <= PATTERN_ITEMS &&
		    items[*count - 1].kind == ITEM_RUN) {
			items[*count - 1].cost = cost_add(items[*count - 1].cost, it.cost);
		} else if (*count < PATTERN_ITEMS) {
			items[(*count)++] = it;
		} else {
			*count = PATTERN_ITEMS + 1;
		}
	}
	add = cost_add(add, mul); /* the end of the pattern: one step */
	return attempts_cost(how, n, add, add, 0);
}

/* What the rest of a pattern, from some item on, costs (see the notes above). */
struct pattern_rest {
	int always;     /* cannot fail */
	int end_ok;     /* can succeed at the end of the subject */
	double fail;    /* the most a failing attempt takes (0 if always) */
	double succ;    /* the most a succeeding one takes, beyond per_byte steps a consumed byte */
	double shallow; /* the most a failure takes at a byte (or end) not in first */
	charset first;
};

/* The rest after a quantified class (kind, class x, cost cx) in front of r. */
static struct pattern_rest quantified(enum item_kind kind, const charset *x, double cx,
                                      const struct pattern_rest *r, double n, double *per_byte)
{
	struct pattern_rest q;
	double positions = n + 1, k;
	/* every try of r is a match() call: one step more */
	double rf = r->always ? 0 : cost_add(r->fail, 1), sh = cost_add(r->shallow, 1);
	double rs = cost_add(r->succ, 1);
	int disjoint = !r->always && cs_disjoint(x, &r->first);
	int general = !r->always && !disjoint;

	switch (kind) {
	case ITEM_STAR:
	case ITEM_PLUS:
		if (general) {
			q.fail = cost_mul(positions, cost_add(cx, rf));
			q.succ = cost_add(q.fail, rs);
		} else {
			q.fail = disjoint ? cost_add(cost_mul(positions, cost_add(cx, sh)), rf) : 0;
			q.succ = cost_add(cx, rs);
			*per_byte = cx > *per_byte ? cx : *per_byte;
		}
		break;
	case ITEM_LAZY:
		if (general) {
			q.fail = cost_mul(positions, cost_add(cx, rf));
			q.succ = cost_add(q.fail, rs);
		} else {
			q.fail = disjoint ? cost_add(cost_mul(positions, cost_add(cx, sh)), rf) : 0;
			q.succ = cost_add(1, rs);
			k = disjoint ? cost_add(cx, sh) : 0;
			*per_byte = k > *per_byte ? k : *per_byte;
		}
		break;
	default: /* ITEM_OPTIONAL */
		q.fail = r->always ? 0 : cost_add(rf, general ? rf : sh);
		q.succ = cost_add(rf, rs);
		break;
	}
	/* match() tests the first byte before it expands (and *, - test it again) */
	q.fail = cost_add(q.fail, cx);
	q.succ = cost_add(q.succ, cx);
	if (kind == ITEM_PLUS) {
		q.always = q.end_ok = 0;
		q.shallow = cx;
		q.first = *x;
		/* ".+" before what succeeds at the end fails only at the end */
		if (r->end_ok && cs_all_bytes(x))
			q.fail = cx;
	} else {
		q.always = r->always ||
		           (kind != ITEM_OPTIONAL && r->end_ok && cs_all_bytes(x)); /* .* .- */
		q.end_ok = r->end_ok;
		q.shallow = cost_add(cx, sh);
		q.first = *x;
		cs_union(&q.first, &r->first, 0);
	}
	if (q.always) {
		q.fail = 0;
		q.first = cs_everything();
	}
	return q;
}

/* The precise bound, from the items crude_cost stored. */
static double precise_cost(const struct pattern_item *items, size_t count, double n,
                           enum mp_patcost_attempts how)
{
	const struct pattern_rest done = {1, 1, 0, 1, 0, cs_everything()};
	struct pattern_rest r = done;
	struct class_cache cc = {0};
	double positions = n + 1, per_byte = 1, rf;
	charset x;

	while (count-- > 0) {
		const struct pattern_item *it = &items[count];

		rf = r.always ? 0 : r.fail;
		switch (it->kind) {
		case ITEM_ERROR:
			r = done;
			break;
		case ITEM_END:
			r.always = 0, r.end_ok = 1;
			r.fail = r.succ = r.shallow = 1;
			memset(&r.first, 0, sizeof r.first);
			r.first.w[4] = 1;
			break;
		case ITEM_CAPTURE:
			r.fail = r.always ? 0 : cost_add(rf, 1);
			r.succ = cost_add(r.succ, 1);
			r.shallow = cost_add(r.shallow, 1);
			break;
		case ITEM_FRONTIER: /* consumes nothing: first stays */
			r.fail = cost_add(rf, it->cost);
			r.succ = cost_add(r.succ, it->cost);
			r.shallow = cost_add(r.shallow, it->cost);
			r.always = r.end_ok = 0;
			break;
		case ITEM_RUN:
			r.fail = cost_add(rf, it->cost);
			r.succ = cost_add(r.succ, it->cost);
			r.shallow = it->first_cost;
			r.first = class_bytes(it->cls, it->cls_len, &cc);
			r.always = r.end_ok = 0;
			break;
		case ITEM_BALANCE:
		case ITEM_BACKREF:
			r.fail = cost_add(rf, positions);
			r.succ = cost_add(r.succ, 1);
			r.shallow = 1;
			if (it->kind == ITEM_BALANCE) {
				memset(&r.first, 0, sizeof r.first);
				cs_add(&r.first, (unsigned char)*it->cls);
			} else {
				r.first = cs_everything(); /* never shallow */
			}
			r.always = r.end_ok = 0;
			break;
		default:
			x = class_bytes(it->cls, it->cls_len, &cc);
			r = quantified(it->kind, &x, it->cost, &r, n, &per_byte);
			break;
		}
	}
	return attempts_cost(how, n, r.always ? 0 : r.fail, r.succ, per_byte);
}

double mp_patcost(const char *p, size_t len, size_t n, enum mp_patcost_attempts how)
{
	struct pattern_item items[PATTERN_ITEMS];
	size_t count;
	double crude = crude_cost(p, len, (double)n, how, items, &count), precise;

	if (crude <= MP_SANDBOX_PATTERN_LIMIT || count > PATTERN_ITEMS)
		return crude;
	precise = precise_cost(items, count, (double)n, how);
	return precise < crude ? precise : crude;
}
