/*
 * The scheduler's thread side: one thread per run samples what each VM's
 * vCPUs used, asks policy.c for the next slice's plan and applies it,
 * kicking vCPUs out of KVM_RUN and letting others through sched_gate().
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "hv/error.h"
#include "hv/seccomp.h"
#include "hv/sched/sched_impl.h"
#include "hv/vcpu.h"

uint64_t sched_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sched_options_default(struct sched_options *o)
{
	cpu_set_t set;
	memset(o, 0, sizeof(*o));
	o->policy = SCHED_OS;
	o->slice_ns = SCHED_DEFAULT_SLICE_NS;
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		o->ncpus = 1;
		return;
	}
	for (int c = 0; c < CPU_SETSIZE && o->ncpus < SCHED_MAX_CPUS; c++)
		if (CPU_ISSET(c, &set))
			o->cpus[o->ncpus++] = c;
}

int sched_parse_cpus(const char *list, struct sched_options *o, char *err, size_t errlen)
{
	cpu_set_t allowed, seen;
	CPU_ZERO(&seen);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
		return error_set(err, errlen, "cannot read this process's CPUs: %s", strerror(errno));
	unsigned n = 0;
	const char *p = list;
	while (*p) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;
		if (end == p || *p < '0' || *p > '9')
			return error_set(err, errlen, "bad CPU list '%s'", list);
		if (*end == '-') {
			p = end + 1;
			hi = strtoul(p, &end, 10);
			if (end == p || *p < '0' || *p > '9' || hi < lo)
				return error_set(err, errlen, "bad CPU range in '%s'", list);
		}
		for (unsigned long c = lo; c <= hi; c++) {
			if (c >= CPU_SETSIZE || !CPU_ISSET(c, &allowed))
				return error_set(err, errlen, "CPU %lu is not available to this process", c);
			if (CPU_ISSET(c, &seen))
				return error_set(err, errlen, "CPU %lu listed twice", c);
			if (n == SCHED_MAX_CPUS)
				return error_set(err, errlen, "more than %d CPUs", SCHED_MAX_CPUS);
			CPU_SET(c, &seen);
			o->cpus[n++] = (int)c;
		}
		p = end;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return error_set(err, errlen, "bad CPU list '%s'", list);
	}
	if (n == 0)
		return error_set(err, errlen, "empty CPU list");
	o->ncpus = n;
	return 0;
}

int sched_parse_slice(const char *s, uint64_t *ns)
{
	char *end;
	double v = strtod(s, &end), unit = 1e6;
	if (end == s || *s == '-')
		return -1;
	if (strcmp(end, "us") == 0)
		unit = 1e3;
	else if (strcmp(end, "s") == 0)
		unit = 1e9;
	else if (*end && strcmp(end, "ms") != 0)
		return -1;
	double t = v * unit;
	if (!(t >= 100e3 && t <= SCHED_PERIOD_NS))
		return -1; /* 100 us .. one cap period */
	*ns = (uint64_t)t;
	return 0;
}

/* Whether the kernel keeps some CPU time from real-time threads (RT throttling, sched_rt_runtime_us >= 0). */
static int rt_throttled(void)
{
	FILE *f = fopen("/proc/sys/kernel/sched_rt_runtime_us", "r");
	long us = -1;
	if (f) {
		if (fscanf(f, "%ld", &us) != 1)
			us = -1;
		fclose(f);
	}
	return us >= 0;
}

int sched_options_check(const struct sched_options *o, char *err, size_t errlen)
{
	struct sched_options all;
	if (!o->rt)
		return 0;
	if (o->policy != SCHED_GANG)
		return error_set(err, errlen, "--rt needs --sched gang (real-time vCPU threads do not share a CPU)");
	/* Spinning real-time guests on every CPU would leave nothing, not even --timeout, to stop them. */
	sched_options_default(&all);
	if (o->ncpus >= all.ncpus && !rt_throttled())
		return error_set(err, errlen, "--rt on every CPU needs the kernel's RT throttling "
				 "(sched_rt_runtime_us is -1): leave a CPU out of --cpus");
	return 0;
}

struct sched *sched_create(const struct sched_options *o, char *err, size_t errlen)
{
	if (sched_options_check(o, err, errlen))
		return NULL;
	struct sched *s = calloc(1, sizeof(*s));
	if (!s) {
		error_set(err, errlen, "out of memory");
		return NULL;
	}
	s->o = *o;
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->left_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0 || s->left_fd < 0 || sched_state_init(&s->state, o->policy, o->ncpus, o->slice_ns) != 0) {
		error_set(err, errlen, s->wake_fd < 0 || s->left_fd < 0 ? "eventfd: %s" : "bad scheduler settings%.0s",
			  strerror(errno));
		sched_destroy(s);
		return NULL;
	}
	return s;
}

void sched_destroy(struct sched *s)
{
	if (!s)
		return;
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	if (s->left_fd >= 0)
		close(s->left_fd);
	free(s->trace);
	free(s);
}

int sched_trace_start(struct sched *s, size_t max)
{
	if (!(s->trace = calloc(max, sizeof(*s->trace))))
		return -1;
	s->trace_cap = max;
	return 0;
}

const struct sched_event *sched_trace(const struct sched *s, size_t *n, size_t *dropped)
{
	size_t have = __atomic_load_n(&s->trace_n, __ATOMIC_ACQUIRE);
	*n = have < s->trace_cap ? have : s->trace_cap;
	*dropped = have - *n;
	return s->trace;
}

uint64_t sched_late_handoffs(const struct sched *s)
{
	return s->late_handoffs;
}

static void trace(struct sched *s, uint32_t vm, enum sched_event_kind kind, uint64_t arg)
{
	if (!s->trace)
		return;
	uint64_t t = sched_now();
	size_t k = __atomic_fetch_add(&s->trace_n, 1, __ATOMIC_ACQ_REL);
	if (k < s->trace_cap)
		s->trace[k] = (struct sched_event){ .t = t, .vm = vm, .kind = kind, .arg = arg };
}

enum sched_policy sched_policy(const struct sched *s)
{
	return s->o.policy;
}

int sched_add_group(struct sched *s, const char *name, const struct sched_share *p, char *err, size_t errlen)
{
	for (unsigned g = 0; g < s->state.n_groups; g++)
		if (strcmp(s->group_names[g], name) == 0)
			return error_set(err, errlen, "group %s defined twice", name);
	if (p->cap > 0 && p->reserve > p->cap)
		return error_set(err, errlen, "group %s: reserve %g above cap %g", name, p->reserve, p->cap);
	int g = sched_state_add_group(&s->state, p);
	if (g < 0)
		return error_set(err, errlen, "too many groups");
	snprintf(s->group_names[g], sizeof(s->group_names[g]), "%s", name);
	return 0;
}

int sched_attach(struct sched *s, struct sched_vm *svm, const char *group, const struct sched_share *p,
		 char *err, size_t errlen)
{
	int g = -1;
	if (group) {
		for (unsigned k = 0; k < s->state.n_groups && g < 0; k++)
			if (strcmp(s->group_names[k], group) == 0)
				g = (int)k;
		if (g < 0)
			return error_set(err, errlen, "no scheduler group '%s' (a [group %s] section defines it)",
					 group, group);
	}
	char why[128];
	int i = sched_state_add_vm(&s->state, svm->vm->cfg.vcpus, g, p, why, sizeof(why));
	if (i < 0)
		return error_set(err, errlen, "scheduler (%s): %s", sched_policy_name(s->o.policy), why);
	svm->s = s;
	svm->index = i;
	s->vms[i] = svm;
	/* Gang: nothing runs before its first slice; os and relaxed start free. */
	for (unsigned j = 0; j < svm->vm->cfg.vcpus; j++) {
		svm->vcpus[j].allowed = s->o.policy != SCHED_GANG;
		svm->vcpus[j].want_cpu = -1;
		svm->vcpus[j].on_cpu = -2;
		svm->vm->vcpus[j].sched = &svm->vcpus[j];
	}
	return 0;
}

void sched_poke(struct sched *s)
{
	uint64_t one = 1;
	if (write(s->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return; /* the counter is full: a poke is pending anyway */
}

void sched_demand_change(struct sched_vm *svm, int delta)
{
	unsigned before = svm->demanding;
	svm->demanding += delta;
	if (svm->s && svm->s->o.policy == SCHED_GANG && (before == 0) != (svm->demanding == 0))
		sched_poke(svm->s);
}

static void pin(struct sched_vcpu *sv)
{
	const struct sched_options *o = &sv->svm->s->o;
	cpu_set_t set;
	CPU_ZERO(&set);
	if (sv->want_cpu >= 0)
		CPU_SET(o->cpus[sv->want_cpu], &set);
	else
		for (unsigned c = 0; c < o->ncpus; c++)
			CPU_SET(o->cpus[c], &set);
	if (sched_setaffinity(0, sizeof(set), &set) == 0)
		sv->on_cpu = sv->want_cpu;
}

static uint64_t thread_cpu(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Adds the CPU time since the last sample (under vm->lock); returns it.
 * Once the VM has ended its threads may be gone (and their ids reused):
 * only a vCPU's own last call in sched_gate() samples then.
 */
static uint64_t sample_cpu(struct sched_vcpu *sv)
{
	if (!sv->registered || (sv->v->vm->ended && !pthread_equal(sv->tid, pthread_self())))
		return 0;
	uint64_t now = thread_cpu(sv->clock);
	if (now <= sv->cpu_seen)
		return 0; /* the thread is gone, or no time passed */
	uint64_t d = now - sv->cpu_seen;
	sv->cpu_seen = now;
	sv->c.cpu_ns += d;
	return d;
}

int sched_gate(struct vcpu *v)
{
	struct sched_vcpu *sv = v->sched;
	struct vm *vm = v->vm;
	struct sched_param fifo = { .sched_priority = 1 }; /* below the scheduler thread's 2 */
	int e;
	if (!sv->registered && sv->svm->s->o.rt && (e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo))) {
		vm_end(vm, VM_STATUS_ABNORMAL, "--rt: vCPU %u cannot run SCHED_FIFO: %s", v->id, strerror(e));
		return -1;
	}
	/* Cleared before looking at `allowed`: a stop that follows still finds it set. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&vm->lock);
	if (!sv->registered) {
		sv->tid = pthread_self();
		if (pthread_getcpuclockid(sv->tid, &sv->clock) == 0)
			sv->registered = 1;
	}
	while (!sv->allowed && !vm->ended)
		pthread_cond_wait(&vm->changed, &vm->lock);
	if (vm->ended)
		sample_cpu(sv); /* the thread's last: the scheduler cannot read its clock after it exits */
	else if (sv->on_cpu != sv->want_cpu)
		pin(sv);
	int ended = vm->ended;
	if (!ended) {
		__atomic_store_n(&sv->in_run, 1, __ATOMIC_SEQ_CST);
		trace(sv->svm->s, (uint32_t)sv->svm->index, SCHED_EV_ENTER, v->id);
	}
	pthread_mutex_unlock(&vm->lock);
	return ended ? -1 : 0;
}

void sched_left(struct vcpu *v)
{
	struct sched_vcpu *sv = v->sched;
	struct sched *s = sv->svm->s;
	trace(s, (uint32_t)sv->svm->index, SCHED_EV_LEAVE, v->id);
	/* Paired with the stop in kick_out(): one of the two sees the other's store. */
	__atomic_store_n(&sv->in_run, 0, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&sv->allowed, __ATOMIC_SEQ_CST) && s->o.policy == SCHED_GANG) {
		uint64_t one = 1;
		if (write(s->left_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			return; /* the counter is full: the scheduler is woken anyway */
	}
}

void sched_park(struct vcpu *v)
{
	struct sched_vcpu *sv = v->sched;
	pthread_mutex_lock(&v->vm->lock);
	if (!sv->parked) {
		sv->parked = 1;
		sched_demand_change(sv->svm, -1);
	}
	pthread_mutex_unlock(&v->vm->lock);
}

/* Stops a vCPU (under vm->lock): makes it leave KVM_RUN; vm_end() kicked all at the end. */
static void kick_out(struct sched_vcpu *sv)
{
	__atomic_store_n(&sv->allowed, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&sv->v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (sv->registered && !sv->v->vm->ended && __atomic_load_n(&sv->in_run, __ATOMIC_SEQ_CST))
		pthread_kill(sv->tid, VCPU_KICK_SIGNAL);
}

/* What each VM used since the last sample, the counters, and the demand for the policy. */
static void sample(struct sched *s, uint64_t now, uint64_t elapsed, uint64_t *used)
{
	for (unsigned i = 0; i < s->state.n_vms; i++) {
		struct sched_vm *svm = s->vms[i];
		struct sched_entity *e = &s->state.vm[i];
		used[i] = 0;
		if (!svm)
			continue;
		pthread_mutex_lock(&svm->vm->lock);
		e->demand = 0;
		for (unsigned j = 0; j < svm->vm->cfg.vcpus; j++) {
			struct sched_vcpu *sv = &svm->vcpus[j];
			if (sv->waiting) { /* a wait still going on counts up to now */
				sv->c.wait_ns += now - sv->wait_mark;
				sv->wait_mark = now;
			}
			uint64_t cpu = sample_cpu(sv), waited = sv->c.wait_ns - sv->wait_seen;
			sv->wait_seen = sv->c.wait_ns;
			/* Steal: runnable but not running; a parked vCPU is never runnable again. */
			if (!svm->vm->ended && !sv->parked && elapsed > cpu + waited)
				sv->c.steal_ns += elapsed - cpu - waited;
			e->progress[j] += cpu;
			used[i] += cpu;
			if (!sv->waiting && !sv->parked && !svm->vm->ended)
				e->demand |= 1ull << j;
		}
		if (s->o.policy == SCHED_GANG) /* gang charges the CPUs it held */
			used[i] = svm->held_ns + (svm->running ? svm->vm->cfg.vcpus * (now - svm->held_since) : 0);
		svm->held_ns = 0;
		svm->held_since = now;
		pthread_mutex_unlock(&svm->vm->lock);
	}
}

/* Whether vCPU j of VM i may run under plan p (gang also says on which owned CPU). */
static int may_run(const struct sched *s, unsigned i, unsigned j, const struct sched_plan *p, uint64_t now)
{
	/* os and relaxed leave an idle VM free to start when kicked, within its cap. */
	int run = p->vm[i].run || (s->o.policy != SCHED_GANG && !s->state.vm[i].demand && p->vm[i].until > now);
	return run && !(p->vm[i].stop >> j & 1);
}

static uint64_t allowed_mask(const struct sched_vm *svm)
{
	uint64_t m = 0;
	for (unsigned j = 0; j < svm->vm->cfg.vcpus && j < 64; j++)
		m |= (uint64_t)svm->vcpus[j].allowed << j;
	return m;
}

/*
 * Applies the plan to VM i in two steps, so that a gang never shares a CPU
 * with the one before it: first every vCPU that must stop or move is
 * stopped (all of a VM at once), then (after the hand-off) the others start.
 */
static void apply_stops(struct sched *s, unsigned i, const struct sched_plan *p, uint64_t now)
{
	struct sched_vm *svm = s->vms[i];
	uint64_t stop = 0;
	pthread_mutex_lock(&svm->vm->lock);
	for (unsigned j = 0; j < svm->vm->cfg.vcpus; j++) {
		const struct sched_vcpu *sv = &svm->vcpus[j];
		int moves = s->o.policy == SCHED_GANG && sv->want_cpu != (int)(p->vm[i].first_cpu + j);
		if (sv->allowed && (!may_run(s, i, j, p, now) || moves))
			stop |= 1ull << j;
	}
	if (stop) {
		trace(s, i, SCHED_EV_ALLOWED, allowed_mask(svm) & ~stop); /* before the kicks: their latency counts */
		for (unsigned j = 0; j < svm->vm->cfg.vcpus; j++)
			if (stop >> j & 1)
				kick_out(&svm->vcpus[j]); /* to block, or to move to its new CPU through sched_gate() */
		if (svm->running)
			svm->held_ns += svm->vm->cfg.vcpus * (now - svm->held_since);
		svm->running = 0;
	}
	pthread_mutex_unlock(&svm->vm->lock);
}

static void apply_starts(struct sched *s, unsigned i, const struct sched_plan *p, uint64_t now)
{
	struct sched_vm *svm = s->vms[i];
	int woke = 0, run = 0;
	pthread_mutex_lock(&svm->vm->lock);
	svm->slice_end = p->end;
	for (unsigned j = 0; j < svm->vm->cfg.vcpus; j++) {
		struct sched_vcpu *sv = &svm->vcpus[j];
		if (!may_run(s, i, j, p, now))
			continue;
		run = 1;
		sv->c.slices++;
		if (sv->allowed)
			continue;
		if (s->o.policy == SCHED_GANG)
			sv->want_cpu = (int)(p->vm[i].first_cpu + j);
		__atomic_store_n(&sv->allowed, 1, __ATOMIC_SEQ_CST);
		woke = 1;
	}
	if (run && !svm->running)
		svm->held_since = sched_now(); /* after the hand-off */
	svm->running = run;
	if (woke) {
		trace(s, i, SCHED_EV_ALLOWED, allowed_mask(svm));
		pthread_cond_broadcast(&svm->vm->changed);
	}
	pthread_mutex_unlock(&svm->vm->lock);
}

/* Waits on fd until until; 1 if it was written to. */
static int wait_fd(int fd, uint64_t until)
{
	uint64_t now = sched_now();
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t d = until > now ? until - now : 0;
	struct timespec ts = { (time_t)(d / 1000000000ull), (long)(d % 1000000000ull) };
	if (ppoll(&pfd, 1, &ts, NULL) > 0) {
		uint64_t n;
		return read(fd, &n, sizeof(n)) == sizeof(n);
	}
	return 0;
}

/*
 * Gang: waits until every stopped vCPU has left KVM_RUN, so that the next
 * gang never shares a CPU with the last. A kick takes ~25 us; a stopped
 * vCPU that Linux keeps off its CPU (other load) may take many ms, and it
 * runs no guest code meanwhile: after a quarter of a slice the next gang
 * starts anyway and the slice counts as late (at most that much is lost).
 */
static void handoff(struct sched *s)
{
	uint64_t deadline = sched_now() + s->o.slice_ns / 4;
	for (;;) {
		unsigned inside = 0;
		for (unsigned i = 0; i < s->state.n_vms; i++) {
			struct sched_vm *svm = s->vms[i];
			for (unsigned j = 0; svm && j < svm->vm->cfg.vcpus; j++)
				inside += !__atomic_load_n(&svm->vcpus[j].allowed, __ATOMIC_SEQ_CST) &&
					  __atomic_load_n(&svm->vcpus[j].in_run, __ATOMIC_SEQ_CST);
		}
		if (!inside)
			return;
		if (sched_now() >= deadline) {
			s->late_handoffs++;
			return;
		}
		wait_fd(s->left_fd, deadline);
	}
}

static void *sched_thread(void *arg)
{
	struct sched *s = arg;
	struct sched_param prio = { .sched_priority = 2 };
	/* Slices must start on time even when every CPU runs vCPUs; as root we may ask for that. */
	pthread_setschedparam(pthread_self(), SCHED_FIFO, &prio);
	if (s->seccomp && seccomp_enter(SECCOMP_MAIN))
		fprintf(stderr, "beyond: scheduler: cannot arm seccomp: %s\n", strerror(errno));
	uint64_t last = sched_now(), used[SCHED_MAX_VMS];
	s->state.period_start = last;
	struct sched_plan plan;
	while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = sched_now();
		sample(s, now, now - last, used);
		sched_account(&s->state, now, now - last, used);
		last = now;
		sched_decide(&s->state, now, &plan);
		for (unsigned i = 0; i < s->state.n_vms; i++)
			if (s->vms[i])
				apply_stops(s, i, &plan, now);
		if (s->o.policy == SCHED_GANG)
			handoff(s);
		for (unsigned i = 0; i < s->state.n_vms; i++)
			if (s->vms[i])
				apply_starts(s, i, &plan, now);
		/* Within the slice: stop each VM at its cap, or decide again when poked. */
		while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
			uint64_t next = plan.end;
			now = sched_now();
			for (unsigned i = 0; i < s->state.n_vms; i++) {
				if (!s->vms[i] || !plan.vm[i].run)
					continue;
				if (plan.vm[i].until <= now) {
					plan.vm[i].run = 0;
					plan.vm[i].until = now; /* not free to start again either */
					apply_stops(s, i, &plan, now);
				} else if (plan.vm[i].until < next) {
					next = plan.vm[i].until;
				}
			}
			if (now >= plan.end || wait_fd(s->wake_fd, next))
				break;
		}
	}
	return NULL;
}

struct vm_runner {
	struct sched *s;
	struct vm *vm;
	pthread_t thread;
	pthread_mutex_t *lock;
	unsigned *ended, order;      /* order: 1 for the first VM to end */
};

static void *vm_thread(void *arg)
{
	struct vm_runner *r = arg;
	vm_run(r->vm);
	pthread_mutex_lock(r->lock);
	r->order = ++*r->ended;
	pthread_mutex_unlock(r->lock);
	sched_poke(r->s);
	return NULL;
}

int sched_run(struct sched *s, struct vm **vms, unsigned n)
{
	struct vm_runner *r = calloc(n, sizeof(*r));
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	unsigned ended = 0, started = 0;
	int first = -1;
	if (!r) {
		for (unsigned i = 0; i < n; i++)
			vm_end(vms[i], VM_STATUS_ABNORMAL, "out of memory");
		return 0;
	}
	s->seccomp = n > 0 && vms[0]->cfg.seccomp;
	int have_thread = pthread_create(&s->thread, NULL, sched_thread, s) == 0;
	for (; have_thread && started < n; started++) {
		r[started] = (struct vm_runner){ .s = s, .vm = vms[started], .lock = &lock, .ended = &ended };
		if (pthread_create(&r[started].thread, NULL, vm_thread, &r[started]) != 0)
			break;
	}
	/* The run's own thread only waits, reports and tears down from here on. */
	if (s->seccomp && seccomp_enter(SECCOMP_MAIN))
		fprintf(stderr, "beyond: cannot arm seccomp: %s\n", strerror(errno));
	for (unsigned i = started; i < n; i++)
		vm_end(vms[i], VM_STATUS_ABNORMAL, "cannot start a thread for it");
	for (unsigned i = 0; i < started; i++)
		pthread_join(r[i].thread, NULL);
	if (have_thread) {
		__atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
		sched_poke(s);
		pthread_join(s->thread, NULL);
	}
	for (unsigned i = 0; i < n; i++)
		if (vms[i]->status != 0 && (first < 0 || r[i].order < r[first].order))
			first = (int)i;
	free(r);
	return first;
}
