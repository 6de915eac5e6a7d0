import { describe, expect, it } from "vitest";
import { insertMention, labelSpans, mentionCandidates, mentionList, mentionQuery, mentionsIn, mentionsMe } from "../src/app/mentions";
import { linksIn, safeHref, textPieces } from "../src/ui/conversation/messageText";

const D = "talkee.test";
const MEMBERS = ["alice@talkee.test", "bob@talkee.test", "bobby@talkee.test", "carol@b.test", "robert@talkee.test"];

describe("links in message text", () => {
  it("turns web and e-mail addresses into http(s) and mailto links", () => {
    const text = "see https://example.org/a?b=1, www.example.com and mail x@example.net.";
    expect(linksIn(text).map((l) => [l.label, l.href])).toEqual([
      ["https://example.org/a?b=1", "https://example.org/a?b=1"],
      ["www.example.com", "http://www.example.com/"],
      ["x@example.net", "mailto:x@example.net"],
    ]);
  });

  it("never links javascript:, data:, file: or ftp: addresses", () => {
    for (const text of ["javascript:alert(1)", "JaVaScRiPt:alert(document.cookie)", "data:text/html,<script>alert(1)</script>", "file:///etc/passwd", "ftp://example.org/x"]) {
      expect(linksIn(text)).toEqual([]);
      expect(textPieces(text, undefined, "bob@talkee.test", D)).toEqual([{ kind: "text", text }]);
    }
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref("data:text/html,x")).toBeNull();
    expect(safeHref("not a url")).toBeNull();
    expect(safeHref("https://example.org")).toBe("https://example.org/");
  });

  it("keeps markup in a message as text around the links", () => {
    const text = '<img src=x onerror=alert(1)> https://example.org/"><b>';
    const pieces = textPieces(text, undefined, "bob@talkee.test", D);
    expect(pieces.map((p) => p.text).join("")).toBe(text);
    expect(pieces.filter((p) => p.kind === "link").every((p) => p.kind === "link" && p.href.startsWith("https://example.org/"))).toBe(true);
  });
});

describe("typing a mention", () => {
  it("finds the @ being typed at the caret, not an e-mail address or a finished word", () => {
    expect(mentionQuery("hi @bo", 6)).toEqual({ start: 3, query: "bo" });
    expect(mentionQuery("@", 1)).toEqual({ start: 0, query: "" });
    expect(mentionQuery("mail x@example.net", 18)).toBeNull();
    expect(mentionQuery("hi @bob and", 11)).toBeNull();
    expect(mentionQuery("hi there", 8)).toBeNull();
    expect(mentionQuery("hi @bo and more", 6)).toEqual({ start: 3, query: "bo" });
  });

  it("offers other members whose names start with the query first, never me", () => {
    expect(mentionCandidates(MEMBERS, "bo", "alice@talkee.test", D)).toEqual(["bob@talkee.test", "bobby@talkee.test"]);
    expect(mentionCandidates(MEMBERS, "ob", "alice@talkee.test", D)).toEqual(["bob@talkee.test", "bobby@talkee.test", "robert@talkee.test"]);
    expect(mentionCandidates(MEMBERS, "r", "alice@talkee.test", D)).toEqual(["robert@talkee.test", "carol@b.test"]);
    expect(mentionCandidates(MEMBERS, "", "alice@talkee.test", D)).toEqual(["bob@talkee.test", "bobby@talkee.test", "carol@b.test", "robert@talkee.test"]);
    expect(mentionCandidates(MEMBERS, "zz", "alice@talkee.test", D)).toEqual([]);
    expect(mentionCandidates(MEMBERS, "", "alice@talkee.test", D, 2)).toHaveLength(2);
  });

  it("writes the picked member's name in place of what was typed", () => {
    expect(insertMention("hi @bo", { start: 3, query: "bo" }, 6, "bobby@talkee.test", D)).toEqual({ text: "hi @bobby ", caret: 10 });
    expect(insertMention("@ca see you", { start: 0, query: "ca" }, 3, "carol@b.test", D)).toEqual({ text: "@carol@b.test see you", caret: 14 });
  });
});

describe("mentions in a message", () => {
  it("names the members whose @name is in the text (bob is not bobby)", () => {
    expect(mentionsIn("hi @bobby!", MEMBERS, D)).toEqual(["bobby@talkee.test"]);
    expect(mentionsIn("@bob and @carol@b.test.", MEMBERS, D)).toEqual(["bob@talkee.test", "carol@b.test"]);
    expect(mentionsIn("mail bob@talkee.test or @bobb", MEMBERS, D)).toEqual([]);
  });

  it("believes only a list of user addresses from a payload", () => {
    expect(mentionList(["bob@talkee.test", "bob@talkee.test", 3, "not an address"])).toEqual(["bob@talkee.test"]);
    expect(mentionList("bob@talkee.test")).toBeUndefined();
    expect(mentionList([])).toBeUndefined();
    expect(mentionList(Array.from({ length: 51 }, (_, i) => `u${i}@x.test`))).toBeUndefined();
  });

  it("highlights the labels as the reader sees them, also a full address from another instance", () => {
    const text = "@bob look, @carol@b.test too";
    expect(labelSpans(text, ["bob@talkee.test", "carol@b.test"], D)).toEqual([
      { start: 0, end: 4, user: "bob@talkee.test" },
      { start: 11, end: 24, user: "carol@b.test" },
    ]);
    // Carol on b.test reads a mention written on talkee.test as "@bob".
    expect(labelSpans("@bob look", ["bob@talkee.test"], "b.test")).toEqual([{ start: 0, end: 4, user: "bob@talkee.test" }]);
    const pieces = textPieces("hey @bob, see https://example.org", ["bob@talkee.test"], "bob@talkee.test", D);
    expect(pieces).toEqual([
      { kind: "text", text: "hey " },
      { kind: "mention", text: "@bob", user: "bob@talkee.test", me: true },
      { kind: "text", text: ", see " },
      { kind: "link", text: "https://example.org", href: "https://example.org/" },
    ]);
  });

  it("counts as a mention of me only in others' messages", () => {
    expect(mentionsMe({ mentions: ["bob@talkee.test"], mine: false }, "bob@talkee.test")).toBe(true);
    expect(mentionsMe({ mentions: ["bob@talkee.test"], mine: true }, "bob@talkee.test")).toBe(false);
    expect(mentionsMe({ mine: false }, "bob@talkee.test")).toBe(false);
  });
});
