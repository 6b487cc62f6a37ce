/* Preloaded into tritonserver by the launcher (LD_PRELOAD); runs before tritonserver's main().
 *
 * 1. The admin key stays off the command line. Any local user reads every process's command line in
 *    /proc/PID/cmdline, and tritonserver takes the key only as an argument. The launcher passes a placeholder
 *    argument instead and the key through a pipe (file descriptor TRITON_SPEECH_SECRET_FD): this constructor reads
 *    it and points the argument vector main() receives at a copy with the key in place of the placeholder. The
 *    kernel keeps showing the original arguments, with the placeholder.
 * 2. tritonserver and its python stubs die with the launcher. The launcher holds the write end of a pipe whose read
 *    end is TRITON_SPEECH_LIFELINE_FD here; a thread waits on it, and when it reads end-of-file (the launcher is
 *    gone, however it died) it kills tritonserver's process group: the server and its stubs. A parent-death signal
 *    would follow the launcher's thread that started the server, not the launcher.
 *
 * Both variables, and this library in LD_PRELOAD, are removed from the environment: the stubs do not inherit them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLACEHOLDER "\nTRITON_SPEECH_SECRET\n"
#define MAX_SECRET 4096

static int read_fd_variable(const char *name) {
    const char *value = getenv(name);
    if (value == NULL || *value == '\0') return -1;
    char *end;
    long fd = strtol(value, &end, 10);
    unsetenv(name);
    return (*end == '\0' && fd >= 0) ? (int)fd : -1;
}

static void put_secret_in_place(int argc, char **argv, int fd) {
    char secret[MAX_SECRET + 1];
    size_t length = 0;
    while (length < MAX_SECRET) {
        ssize_t got = read(fd, secret + length, MAX_SECRET - length);
        if (got > 0) length += (size_t)got;
        else if (got == 0 || errno != EINTR) break;
    }
    close(fd);
    secret[length] = '\0';
    for (int i = 0; i < argc; i++) {
        char *at = strstr(argv[i], PLACEHOLDER);
        if (at == NULL) continue;
        size_t before = (size_t)(at - argv[i]), after = strlen(at + strlen(PLACEHOLDER));
        char *replaced = malloc(before + length + after + 1);
        if (replaced == NULL) _exit(70);
        memcpy(replaced, argv[i], before);
        memcpy(replaced + before, secret, length);
        memcpy(replaced + before + length, at + strlen(PLACEHOLDER), after + 1);
        argv[i] = replaced;
    }
    explicit_bzero(secret, sizeof secret);
}

static void *wait_for_the_launcher(void *arg) {
    int fd = (int)(long)arg;
    char byte;
    for (;;) {
        ssize_t got = read(fd, &byte, 1);
        if (got == 0 || (got < 0 && errno != EINTR)) break;
    }
    /* Only as the leader of its own group (the launcher starts it so): never kill a group it merely joined. */
    if (getpgrp() == getpid()) kill(0, SIGKILL);
    kill(getpid(), SIGKILL);
    return NULL;
}

static void watch_the_launcher(int fd) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);  /* the stubs do not hold it */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);  /* the server's signals stay with its own threads */
    pthread_t thread;
    if (pthread_create(&thread, NULL, wait_for_the_launcher, (void *)(long)fd) == 0) pthread_detach(thread);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
}

/* The launcher puts this library first in LD_PRELOAD: the stubs get the rest, if any. */
static void forget_this_preload(void) {
    const char *preload = getenv("LD_PRELOAD");
    if (preload == NULL) return;
    const char *rest = preload + strcspn(preload, ": ");
    rest += strspn(rest, ": ");
    if (*rest == '\0') unsetenv("LD_PRELOAD");
    else setenv("LD_PRELOAD", rest, 1);
}

__attribute__((constructor)) static void launch_shim(int argc, char **argv, char **envp) {
    (void)envp;
    int secret_fd = read_fd_variable("TRITON_SPEECH_SECRET_FD");
    int lifeline_fd = read_fd_variable("TRITON_SPEECH_LIFELINE_FD");
    forget_this_preload();
    if (secret_fd >= 0) put_secret_in_place(argc, argv, secret_fd);
    if (lifeline_fd >= 0) watch_the_launcher(lifeline_fd);
}
