/* ctl_audit — carapacectl's audit-keygen and audit-verify: the signing
 * key of the audit trail's checkpoints, and the check of the trail's
 * files against the chain and the checkpoints (auditchain.h). Neither
 * needs the daemon. Results on stdout, complaints on stderr
 * (ctl_complain). One thread. */
#ifndef CARAPACE_CTL_AUDIT_H
#define CARAPACE_CTL_AUDIT_H

/* Each gets the command's words (argv[0] its name). 0 done; -1 failed
 * (for audit-verify: a broken link, printed, or a file not read); -2 a
 * usage error (said). */
int ctl_audit_keygen(int argc, char **argv);
int ctl_audit_verify(int argc, char **argv);

#endif
