import { describe, expect, it } from "vitest";
import { answerFor, muteUntil, withPicture } from "../src/app/notifications";
import { clickTarget, noticeView, parsePush } from "../src/sw/notice";

const CHAT = "0b9f3c2e-5d6a-4e7f-8a9b-0c1d2e3f4a5b";

describe("push payloads", () => {
  it("reads the server's payload (padded with spaces) and nothing else", () => {
    expect(parsePush(`{"v":1,"kind":"message","chat":"${CHAT}"}      `)).toEqual({ kind: "message", chat: CHAT });
    expect(parsePush(`{"v":1,"kind":"call","chat":"${CHAT}"}`)).toEqual({ kind: "call", chat: CHAT });
    expect(parsePush(`{"kind":"call","chat":"../../admin"}`)).toEqual({ kind: "call", chat: null });
    expect(parsePush("not json")).toEqual({ kind: "message", chat: null });
    expect(parsePush(null)).toEqual({ kind: "message", chat: null });
    // a message that mentions this person (the server was told by the sender's client)
    expect(parsePush(`{"v":1,"kind":"mention","chat":"${CHAT}"}`)).toEqual({ kind: "message", chat: CHAT, mention: true });
    expect(noticeView({ kind: "message", chat: CHAT, mention: true }, null).options.body).toBe("You were mentioned");
  });
});

describe("what a push shows", () => {
  it("is generic and never empty when no unlocked tab answers", () => {
    const view = noticeView({ kind: "message", chat: CHAT }, null);
    expect(view.title).toBe("Talkee");
    expect(view.options.body).toBe("New message");
    expect(view.options.tag).toBe(`chat-${CHAT}`); // one per chat
    expect(view.options.actions).toEqual([]);
    expect(noticeView({ kind: "message", chat: CHAT }, { title: " ", body: "" }).options.body).toBe("New message");
  });

  it("offers Answer and Decline for a call", () => {
    const view = noticeView({ kind: "call", chat: CHAT }, null);
    expect(view.options.body).toBe("Incoming call");
    expect(view.options.requireInteraction).toBe(true);
    expect(view.options.actions.map((a) => a.title)).toEqual(["Answer", "Decline"]);
  });

  it("shows the real text only from an unlocked tab, and only when chosen", () => {
    const deps = { describe: () => ({ title: "Bob", preview: "see you at 8" }), showing: () => false };
    const on = { showText: true, mentionsWhenMuted: true, muted: () => false };
    const off = { ...on, showText: false };
    const withText = answerFor({ kind: "message", chat: CHAT }, deps, on);
    expect(noticeView({ kind: "message", chat: CHAT }, withText)).toMatchObject({ title: "Bob", options: { body: "see you at 8" } });
    expect(answerFor({ kind: "message", chat: CHAT }, deps, off)).toEqual({ title: "Bob", body: "New message" });
    expect(answerFor({ kind: "call", chat: CHAT }, deps, on)).toEqual({ title: "Bob", body: "Incoming call" });
    expect(answerFor({ kind: "message", chat: CHAT }, { ...deps, showing: () => true }, on)).toEqual({ shown: true });
    expect(answerFor({ kind: "message", chat: CHAT }, { ...deps, describe: () => null }, on)).toEqual({});
  });

  it("shows the chat's picture from the unlocked tab's vault, else the app's icon", () => {
    const picture = "data:image/jpeg;base64,/9j/4AAQ";
    const deps = { describe: () => ({ title: "Bob", preview: "hi", picture }), showing: () => false };
    const on = { showText: true, mentionsWhenMuted: true, muted: () => false };
    const answer = withPicture(answerFor({ kind: "message", chat: CHAT }, deps, on), CHAT, deps);
    expect(answer).toEqual({ title: "Bob", body: "hi", icon: picture });
    expect(noticeView({ kind: "message", chat: CHAT }, answer).options.icon).toBe(picture);
    expect(withPicture({ quiet: true }, CHAT, deps)).toEqual({ quiet: true }); // nothing shown: no picture
    expect(withPicture({ title: "Bob" }, CHAT, { describe: () => ({ title: "Bob", preview: "" }) })).toEqual({ title: "Bob" });
    expect(noticeView({ kind: "message", chat: CHAT }, null).options.icon).toBe("/app/icons/icon-192.png");
    expect(noticeView({ kind: "message", chat: CHAT }, { title: "Bob", icon: "https://tracker.example/p.png" }).options.icon).toBe("/app/icons/icon-192.png");
  });

  it("a muted chat stays quiet unless a message mentions me and mentions may notify", () => {
    const plain = { describe: () => ({ title: "Team", preview: "lunch?" }), showing: () => false };
    const mentioned = { describe: () => ({ title: "Team", preview: "@bob lunch?", mentioned: true }), showing: () => false };
    const muted = { showText: false, mentionsWhenMuted: true, muted: (id: string) => id === CHAT };
    expect(answerFor({ kind: "message", chat: CHAT }, plain, muted)).toEqual({ quiet: true });
    expect(answerFor({ kind: "message", chat: CHAT }, mentioned, muted)).toEqual({ title: "Team", body: "You were mentioned" });
    expect(answerFor({ kind: "message", chat: CHAT }, mentioned, { ...muted, showText: true })).toEqual({ title: "Team", body: "@bob lunch?" });
    expect(answerFor({ kind: "message", chat: CHAT }, mentioned, { ...muted, mentionsWhenMuted: false })).toEqual({ quiet: true });
    // Not muted: a mention notifies like any message, saying so.
    expect(answerFor({ kind: "message", chat: CHAT }, mentioned, { ...muted, muted: () => false })).toEqual({ title: "Team", body: "You were mentioned" });
    // The server's "mention" push counts before this tab has fetched the message.
    expect(answerFor({ kind: "message", chat: CHAT, mention: true }, plain, muted)).toEqual({ title: "Team", body: "You were mentioned" });
    expect(answerFor({ kind: "message", chat: CHAT, mention: true }, plain, { ...muted, mentionsWhenMuted: false })).toEqual({ quiet: true });
    // Calls are not messages: a muted chat's call is the server's decision (calls_when_muted).
    expect(answerFor({ kind: "call", chat: CHAT }, plain, muted)).toEqual({ title: "Team", body: "Incoming call" });
  });

  it("a click opens the chat, Answer joins the call, Decline goes nowhere", () => {
    expect(clickTarget({ kind: "message", chat: CHAT }, "")).toBe(`/#chat=${CHAT}`);
    expect(clickTarget({ kind: "call", chat: CHAT }, "answer")).toBe(`/#chat=${CHAT}&call=answer`);
    expect(clickTarget({ kind: "call", chat: CHAT }, "decline")).toBeNull();
    expect(clickTarget({ kind: "message", chat: null }, "")).toBe("/");
  });

  it("mutes for 1 h, 8 h or always", () => {
    expect(muteUntil("1h", 0)?.getTime()).toBe(3600_000);
    expect(muteUntil("8h", 0)?.getTime()).toBe(8 * 3600_000);
    expect(muteUntil("always", 0)).toBeNull();
  });
});
