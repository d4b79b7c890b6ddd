/* tally: a small calculator and text counter, the program examples/cbuild/build.py builds.
 *
 *   tally rpn "3 4 + 2 *"     14
 *   tally stats 1 2 3 4       n=4 sum=10 mean=2.5 min=1 max=4
 *   tally words FILE          lines, words, the most frequent words
 *   tally crc TEXT            the CRC-32 of TEXT, and its length in characters
 *   tally version
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "num.h"
#include "rpn.h"
#include "stats.h"
#include "text.h"
#include "vec.h"

static int usage(void)
{
    fputs("usage: tally rpn EXPR | stats NUMBER... | words FILE | crc TEXT | version\n", stderr);
    return 2;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open", path);
    Buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return b.data ? b.data : xstrdup("");
}

static int cmd_rpn(const char *expr)
{
    double result;
    const char *error;
    char text[64];
    if (!rpn_eval(expr, &result, &error))
        die(error, expr);
    num_format(result, text, sizeof text);
    puts(text);
    return 0;
}

static int cmd_stats(int argc, char **argv)
{
    Vec v;
    vec_init(&v);
    for (int i = 0; i < argc; i++) {
        double x;
        if (!num_parse(argv[i], &x))
            die("not a number", argv[i]);
        vec_push(&v, x);
    }
    double figures[] = {vec_sum(&v), vec_mean(&v), vec_min(&v), vec_max(&v)};
    const char *names[] = {"sum", "mean", "min", "max"};
    Buf out;
    buf_init(&out);
    buf_printf(&out, "n=%zu", v.len);
    for (size_t i = 0; i < TALLY_COUNT(figures); i++) {
        char text[64];
        num_format(figures[i], text, sizeof text);
        buf_printf(&out, " %s=%s", names[i], text);
    }
    puts(buf_cstr(&out));
    buf_free(&out);
    vec_free(&v);
    return 0;
}

static int cmd_words(const char *path)
{
    char *text = read_file(path);
    Map counts;
    LineStats lines;
    MapEntry *top[TALLY_TOP_WORDS];
    map_init(&counts, 1024);
    long total = count_words(text, &counts);
    count_lines(text, &lines);
    printf("%ld lines (%ld blank, longest %ld), %ld words, %zu different\n", lines.lines, lines.blank,
           lines.longest, total, counts.len);
    size_t n = top_words(&counts, top, TALLY_TOP_WORDS);
    for (size_t i = 0; i < n; i++)
        printf("%6ld %s\n", top[i]->count, top[i]->key);
    map_free(&counts);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "rpn") == 0 && argc == 3)
        return cmd_rpn(argv[2]);
    if (strcmp(cmd, "stats") == 0)
        return cmd_stats(argc - 2, argv + 2);
    if (strcmp(cmd, "words") == 0 && argc == 3)
        return cmd_words(argv[2]);
    if (strcmp(cmd, "crc") == 0 && argc == 3) {
        printf("%08x %zu\n", (unsigned)crc32_text(argv[2], strlen(argv[2])), utf8_length(argv[2]));
        return 0;
    }
    if (strcmp(cmd, "version") == 0) {
        puts(tally_version());
        return 0;
    }
    return usage();
}
