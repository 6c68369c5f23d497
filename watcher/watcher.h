/*
 * watcher: `ckeda --role=watcher`: the only process that mutates cluster state: list/watch keda.sh
 * objects, mirror them into the table, build HPAs, run the scale loop.
 */
#ifndef CKEDA_WATCHER_H
#define CKEDA_WATCHER_H

int watch_main(int argc, char **argv);

#endif
