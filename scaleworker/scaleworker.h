/*
 * scaleworker: `ckeda --role=scaleworker --type=T --shard=K`. One process per scaler type (and
 * shard): polls the event sources of the triggers the supervisor assigned to it, publishes
 * their results into the table, rings the watcher's doorbell on activity changes.
 */
#ifndef CKEDA_SCALEWORKER_H
#define CKEDA_SCALEWORKER_H

int sw_main(int argc, char **argv);

#endif
