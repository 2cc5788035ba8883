-- 0050_bots: what the mail bots (bots/*.c, run by core/botpass.c) decided,
-- sent and were told.  Message-IDs are stored without <>.
--
-- Per-sender and per-series nag history and the global rate limit are read
-- from bot_messages (recipient, version_key, planned_unix): a message
-- counts from the moment it is planned, whatever happens to it later,
-- except in the states 'cancelled' and 'expired' (never sent) and, for a
-- bot that is live, 'dry-run' (recorded for review only).

-- Submissions intake does not turn into series but bots must account for
-- (core/botstate.c botstate_observe, called by intake): pull requests and
-- replies that carry a patch.  Bots skip them; the dry-run report says why.
CREATE TABLE bot_mail (
    msgid           TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,      -- 'pull' | 'reply'
    subject         TEXT,
    author_name     TEXT,
    author_email    TEXT,
    date            TEXT,               -- RFC 3339 UTC of the Date: header
    in_reply_to     TEXT,
    automated       INTEGER NOT NULL DEFAULT 0,
    list_id         TEXT,
    source          TEXT,
    received        TEXT NOT NULL
);
CREATE INDEX bot_mail_date ON bot_mail (date);

-- One final decision per bot and candidate ('series:<root msgid>' or
-- 'mail:<msgid>').  Candidates without a row are considered again on the
-- next pass (waiting for parts, settling, rate limited).
CREATE TABLE bot_decisions (
    bot             TEXT NOT NULL,
    candidate       TEXT NOT NULL,
    decision        TEXT NOT NULL,      -- 'send' | 'skip'
    reason          TEXT NOT NULL,      -- rule code: 'has-base', 'opted-out', ...
    detail          TEXT,
    message_id      TEXT,               -- bot_messages.msgid of a 'send'
    decided         TEXT NOT NULL,
    PRIMARY KEY (bot, candidate)
);

-- The send-state machine, one row per message:
--   planned     decided and rendered (raw is final: a resend is byte-identical)
--   recorded    in the outbox feed (public-inbox v2), waiting to be sent
--   sending     an SMTP transaction is under way; the end of data is not sent
--   submitted   the end of data is (about to be) sent; the server's answer is pending
--   sent        the server accepted it (250 after DATA)
--   failed      not accepted, retried at next_attempt (4xx, connection errors)
--   rejected    refused for good (5xx): never retried
--   unconfirmed a crash or lost answer after 'submitted' and no way to confirm:
--               not resent (at most once)
--   cancelled   the recipient opted out, or the bot was disabled, before sending
--   expired     not sent before max-delay: a stale nag is worse than none
--   dry-run     recorded in the dry-run feed only (the bot was in dry-run mode)
CREATE TABLE bot_messages (
    rid             INTEGER PRIMARY KEY,
    bot             TEXT NOT NULL,
    msgid           TEXT NOT NULL UNIQUE,
    candidate       TEXT NOT NULL,
    root_msgid      TEXT NOT NULL,
    in_reply_to     TEXT NOT NULL,
    version_key     TEXT,
    recipient       TEXT NOT NULL,      -- lower-case address
    state           TEXT NOT NULL,
    dry_run         INTEGER NOT NULL DEFAULT 0,
    raw             TEXT NOT NULL,
    planned         TEXT NOT NULL,
    planned_unix    INTEGER NOT NULL,
    recorded        TEXT,
    submitted_unix  INTEGER,
    finished        TEXT,               -- sent / rejected / cancelled / expired / unconfirmed at
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt    INTEGER,            -- Unix seconds
    last_error      TEXT,
    smtp_reply      TEXT
);
CREATE INDEX bot_messages_state ON bot_messages (bot, state);
CREATE INDEX bot_messages_recipient ON bot_messages (bot, recipient);
CREATE INDEX bot_messages_version ON bot_messages (bot, version_key);
CREATE INDEX bot_messages_planned ON bot_messages (bot, planned_unix);

-- Opt-outs recorded in the database: "stop" replies to a bot's messages and
-- `cifeed bot NAME opt-out`.  (The opt-out file is read on every pass.)
CREATE TABLE bot_optouts (
    bot             TEXT NOT NULL,
    address         TEXT NOT NULL,      -- lower-case
    source          TEXT NOT NULL,      -- 'reply' | 'cli'
    msgid           TEXT,               -- the "stop" reply
    added           TEXT NOT NULL,
    PRIMARY KEY (bot, address)
);

-- Messages read from a bot's own mailbox (replies, copies of its own mail).
CREATE TABLE bot_inbox (
    bot             TEXT NOT NULL,
    msgid           TEXT NOT NULL,
    action          TEXT NOT NULL,      -- 'stop' | 'copy' | 'ignored' | 'auto-reply'
    from_addr       TEXT,
    seen            TEXT NOT NULL,
    PRIMARY KEY (bot, msgid)
);
