import { describe, expect, it } from "vitest";
import { PENDING_REACTION, dropKeptTexts, markPending, rejectedMessage, rejectionText, settle, undoChange } from "../src/app/changes";
import type { LocalMessage } from "../src/app/store";

function message(seq: number, text: string, extra: Partial<LocalMessage> = {}): LocalMessage {
  return { key: `m${seq}`, id: seq + 100, seq, sender: "bob@b.test:d1", text, at: seq, mine: true, status: "sent", reactions: [], ...extra };
}

describe("a forwarded change the chat's home refuses", () => {
  it("puts an edit's old text back", () => {
    const m = message(3, "Got both");
    markPending(m, { action: "edit", text: m.text, edited: false, ciphertext: "c1" });
    m.text = "Got both, thanks";
    m.edited = true;
    const found = rejectedMessage([message(2, "x"), m], "edit", 3);
    expect(found).toBe(m);
    expect(undoChange(m, "edit")).toBe(true);
    expect(m.text).toBe("Got both");
    expect(m.edited).toBe(false);
    expect(m.pending).toBeUndefined();
    // A second refusal of the same kind finds nothing left to undo.
    expect(rejectedMessage([m], "edit", 3)).toBeUndefined();
  });

  it("undoes two edits in the order they were made", () => {
    const m = message(4, "one");
    markPending(m, { action: "edit", text: "one", edited: false, ciphertext: "c1" });
    markPending(m, { action: "edit", text: "two", edited: true, ciphertext: "c2" });
    m.text = "three";
    // The home applied the first (its frame carries c1), refused the second.
    expect(settle(m, "edit", (c) => c.ciphertext === "c1")?.text).toBe("one");
    expect(undoChange(m, "edit")).toBe(true);
    expect(m.text).toBe("two");
    expect(m.edited).toBe(true);
  });

  it("brings a deleted message back with its reactions, unless it is gone for another reason", () => {
    const reactions = [{ id: 7, emoji: "👍", user: "alice@a.test" }];
    const m = message(5, "And one more", { reactions });
    markPending(m, { action: "delete", text: m.text, reactions });
    Object.assign(m, { deleted: true, text: "", reactions: [] });
    expect(undoChange(m, "delete")).toBe(true);
    expect(m).toMatchObject({ deleted: false, text: "And one more", reactions });

    const expired = message(6, "Timed");
    markPending(expired, { action: "delete", text: expired.text, reactions: [] });
    Object.assign(expired, { deleted: true, text: "" });
    dropKeptTexts(expired); // the home's deleted frame came: nothing kept
    expired.expired = true;
    expect(undoChange(expired, "delete")).toBe(true);
    expect(expired).toMatchObject({ deleted: true, text: "" });
  });

  it("drops our reaction still waiting for its id, and returns a removed one", () => {
    const theirs = { id: 9, emoji: "👍", user: "alice@a.test" };
    const pending = { id: PENDING_REACTION, emoji: "👍", user: "bob@b.test", removeSecret: "s" };
    const m = message(1, "Hello", { reactions: [theirs, pending] });
    expect(rejectedMessage([m], "react", 1)).toBe(m);
    expect(undoChange(m, "react")).toBe(true);
    expect(m.reactions).toEqual([theirs]);
    expect(undoChange(m, "react")).toBe(false);

    // A removal names no seq (0): the message with one pending, wherever it is.
    const ours = { id: 11, emoji: "❤️", user: "bob@b.test", removeSecret: "t" };
    const other = message(2, "Other");
    markPending(other, { action: "unreact", reaction: ours });
    expect(rejectedMessage([m, other], "unreact", 0)).toBe(other);
    expect(undoChange(other, "unreact")).toBe(true);
    expect(other.reactions).toEqual([ours]);
  });

  it("undoes exactly the refused removal when the refusal names the reaction", () => {
    const first = { id: 21, emoji: "👍", user: "bob@b.test", removeSecret: "a" };
    const second = { id: 22, emoji: "🎉", user: "bob@b.test", removeSecret: "b" };
    const early = message(4, "Early");
    const late = message(5, "Late");
    markPending(early, { action: "unreact", reaction: first });
    markPending(late, { action: "unreact", reaction: second });
    expect(rejectedMessage([early, late], "unreact", 5, 22)).toBe(late);
    expect(rejectedMessage([early, late], "unreact", 5, 21)).toBeUndefined();
    expect(undoChange(late, "unreact", 22)).toBe(true);
    expect(late.reactions).toEqual([second]);
    expect(early.pending).toHaveLength(1); // the other removal still waits for the home
  });

  it("is not found on devices that did not ask", () => {
    expect(rejectedMessage([message(3, "Got both")], "edit", 3)).toBeUndefined();
    expect(rejectedMessage([message(3, "Got both")], "react", 3)).toBeUndefined();
    expect(rejectedMessage([message(3, "Got both")], "unreact", 0)).toBeUndefined();
  });

  it("is said in words, with the home's reason", () => {
    expect(rejectionText("edit", "This message can no longer be edited.")).toBe(
      "The chat's home server refused your edit: This message can no longer be edited. The message shows its earlier text again.",
    );
    expect(rejectionText("delete", "")).toBe("The chat's home server refused the deletion. The message is back.");
    expect(rejectionText("unreact", "No such reaction")).toMatch(/refused removing your reaction: No such reaction\. Your reaction is back\.$/);
    expect(rejectionText("burn", "not burn-on-read")).toMatch(/refused burning this message: not burn-on-read\. It may still be there/);
  });
});
