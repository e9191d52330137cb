// Isnad chat: sends each question with the conversation so far to the JSON API, shows answers with
// citation chips that open their passage, and keeps the conversation in sessionStorage so a reload
// (or a visit to an article and back) does not lose it. Without this script the form still works:
// the server answers one question per page.
(function () {
  "use strict";

  var STORE_KEY = "isnad.chat.v1";
  // Follow-ups need only the recent exchanges, and the API caps history (20 turns); send the last few.
  var HISTORY_TURNS = 10;
  // The API's error codes a reader can cause, in Arabic (as pages.ERROR_MESSAGES for the search form).
  var ERROR_MESSAGES = {
    empty_query: "اكتب سؤالك أولًا.",
    query_too_long: "السؤال أطول من اللازم؛ الحد الأقصى 500 حرف.",
    bad_history: "تعذّر إرسال المحادثة السابقة؛ ابدأ محادثة جديدة وأعد السؤال."
  };
  var MONTHS = ["يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو",
                "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"];

  var form = document.getElementById("ask-form");
  var input = document.getElementById("question");
  var send = document.getElementById("ask-send");
  var thread = document.getElementById("thread");
  var status = document.getElementById("chat-status");
  var newChat = document.getElementById("new-chat");
  if (!form || !input || !thread) return;

  var apiUrl = form.getAttribute("data-api");
  var searchUrl = form.getAttribute("data-search") || "/";
  var articleBase = form.getAttribute("data-articles") || "/articles/";
  var turns = load();   // [{role: "user", content}, {role: "assistant", content, answered, citations}]
  var busy = false;

  // Passage ids are below 2**53 (indexer/stores/base.py), so they parse exactly as JavaScript numbers.
  function parseAnswer(text) {
    return JSON.parse(text);
  }

  function load() {
    try {
      var value = JSON.parse(sessionStorage.getItem(STORE_KEY) || "[]");
      return Array.isArray(value) ? value : [];
    } catch (e) {
      return [];
    }
  }

  function save() {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify(turns));
    } catch (e) {
      // Storage full or disabled (private mode): the conversation still works, it just won't survive a reload.
    }
  }

  // Builds an element; text only ever goes in through textContent, so nothing from the server is parsed as HTML.
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) {
        node.setAttribute(name, attrs[name] === true ? "" : String(attrs[name]));
      }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === "") return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function arabicDate(value) {
    var match = /^(\d{4})-(\d{2})-(\d{2})/.exec(value || "");
    if (!match) return value || "";
    return Number(match[3]) + " " + MONTHS[Number(match[2]) - 1] + " " + match[1];
  }

  // Same rule as pages.quote_parts: trust offsets that point at the quote, else find the quote by value.
  function quoteParts(text, quote, start, end) {
    var q = (quote || "").trim();
    if (typeof start === "number" && typeof end === "number" && start >= 0 && start < end && end <= text.length) {
      if (!q || text.slice(start, end).trim() === q) return [text.slice(0, start), text.slice(start, end), text.slice(end)];
    }
    if (q) {
      var found = text.indexOf(q);
      if (found >= 0) return [text.slice(0, found), q, text.slice(found + q.length)];
    }
    return [text, "", ""];
  }

  function articleHref(citation) {
    return articleBase + encodeURIComponent(citation.article_id) + "#p-" + citation.passage_id;
  }

  function sourceCard(citation, id) {
    var parts = quoteParts(citation.text || "", citation.quote, citation.quote_start, citation.quote_end)
      .map(function (part) { return part.replace(/\n\s*\n/g, "\n"); });  // as pages.single_spaced
    var meta = [];
    if (citation.source) meta.push(el("bdi", {dir: "rtl"}, [citation.source]));
    if (citation.source && citation.published) meta.push(el("span", {"aria-hidden": "true"}, [" · "]));
    if (citation.published) meta.push(el("time", {datetime: citation.published}, [arabicDate(citation.published)]));
    return el("details", {"class": "source-card", id: id}, [
      el("summary", {}, [
        el("span", {"class": "source-card__n"}, ["[" + citation.n + "]"]),
        el("span", {"class": "source-card__title"}, [citation.title || "مقال بلا عنوان"]),
        el("span", {"class": "source-card__meta"}, meta)
      ]),
      el("blockquote", {"class": "source-card__text"}, [
        parts[0], parts[1] ? el("mark", {}, [parts[1]]) : null, parts[2]
      ]),
      el("a", {"class": "source-card__link", href: articleHref(citation)}, ["افتح المقال عند هذا المقطع"]),
      copiesLine(citation.also_carried_by || [])
    ]);
  }

  // The other outlets that carried the cited text (its copy group), each a link to its article.
  function copiesLine(copies) {
    if (!copies.length) return null;
    var items = ["ونشر النص نفسه: "];
    copies.forEach(function (copy, i) {
      if (i) items.push("، ");
      items.push(el("a", {href: articleBase + encodeURIComponent(copy.article_id)},
                    [el("bdi", {dir: "rtl"}, [copy.source || "مصدر غير مسمّى"])]));
    });
    return el("p", {"class": "source-card__copies"}, items);
  }

  // Same rule as pages.marked_runs: inside the quote that precedes marker [n], mark citation n's
  // answer_spans (the date, number or name asked for); nothing when the quote is not found verbatim.
  function markedNodes(text, citation) {
    var quote = (citation && citation.quote) || "";
    var spans = ((citation && citation.answer_spans) || []).slice().sort(function (a, b) { return a[0] - b[0]; });
    var found = quote ? text.indexOf(quote) : -1;
    if (found < 0 || !spans.length) return [text];
    var nodes = [];
    var cursor = 0;
    spans.forEach(function (span) {
      var start = found + Math.max(span[0], 0);
      var end = found + Math.min(span[1], quote.length);
      if (start < cursor || start >= end) return;
      nodes.push(text.slice(cursor, start), el("mark", {"class": "answer__fact"}, [text.slice(start, end)]));
      cursor = end;
    });
    nodes.push(text.slice(cursor));
    return nodes;
  }

  function userTurn(turn) {
    return el("li", {"class": "turn turn--user"}, [el("p", {"class": "bubble", dir: "auto"}, [turn.content])]);
  }

  function assistantTurn(turn, index, question) {
    var cards = {};
    var byNumber = {};
    var sources = el("div", {"class": "sources", role: "group", "aria-label": "المصادر"});
    (turn.citations || []).forEach(function (citation) {
      var card = sourceCard(citation, "t" + index + "-src-" + citation.n);
      cards[citation.n] = card;
      byNumber[citation.n] = citation;
      sources.appendChild(card);
    });

    var answer = el("p", {"class": "answer"});
    var marker = /\[(\d{1,3})\]/g;
    var text = turn.content || "";
    var cursor = 0;
    var match;
    while ((match = marker.exec(text)) !== null) {
      markedNodes(text.slice(cursor, match.index), byNumber[Number(match[1])]).forEach(function (node) {
        if (node) answer.appendChild(typeof node === "string" ? document.createTextNode(node) : node);
      });
      var card = cards[Number(match[1])];
      answer.appendChild(card ? chip(Number(match[1]), card) : document.createTextNode(match[0]));
      cursor = marker.lastIndex;
    }
    answer.appendChild(document.createTextNode(text.slice(cursor)));

    var bubble = el("div", {"class": "bubble"}, [answer]);
    if (turn.answered === false) {
      bubble.appendChild(el("p", {"class": "answer__hint"}, [
        "يمكنك إعادة صياغة السؤال، أو ",
        el("a", {href: searchUrl + "?q=" + encodeURIComponent(question || "")}, ["البحث بالكلمات"]),
        "."
      ]));
    }
    if (sources.childNodes.length) bubble.appendChild(sources);
    var classes = "turn turn--assistant" + (turn.answered === false ? " turn--abstained" : "");
    return el("li", {"class": classes}, [bubble]);
  }

  // A citation chip toggles its source card open and keeps aria-expanded in step with it.
  function chip(n, card) {
    var title = card.querySelector(".source-card__title").textContent;
    var button = el("button", {
      type: "button", "class": "cite-chip", "aria-expanded": "false", "aria-controls": card.id,
      "aria-label": "المصدر " + n + ": " + title
    }, ["[" + n + "]"]);
    button.addEventListener("click", function () {
      card.open = !card.open;
      button.setAttribute("aria-expanded", card.open ? "true" : "false");
      if (card.open) card.scrollIntoView({block: "nearest"});
    });
    card.addEventListener("toggle", function () {
      button.setAttribute("aria-expanded", card.open ? "true" : "false");
    });
    return button;
  }

  function errorTurn(message, question) {
    var retry = el("button", {type: "button", "class": "button button--secondary turn__retry"}, ["أعد المحاولة"]);
    var item = el("li", {"class": "turn turn--error"}, [
      el("div", {"class": "bubble", role: "alert"}, [el("p", {dir: "auto", "class": "bubble__text"}, [message]), retry])
    ]);
    retry.addEventListener("click", function () {
      var previous = item.previousElementSibling;
      item.remove();
      if (previous && previous.classList.contains("turn--user")) previous.remove();
      ask(question);
    });
    return item;
  }

  function render() {
    thread.textContent = "";
    var lastQuestion = "";
    turns.forEach(function (turn, index) {
      if (turn.role === "user") {
        lastQuestion = turn.content;
        thread.appendChild(userTurn(turn));
      } else {
        thread.appendChild(assistantTurn(turn, index, lastQuestion));
      }
    });
  }

  function setBusy(value) {
    busy = value;
    send.disabled = value;
    thread.setAttribute("aria-busy", value ? "true" : "false");
  }

  function ask(question) {
    var history = turns.slice(-HISTORY_TURNS).map(function (t) { return {role: t.role, content: t.content}; });
    turns.push({role: "user", content: question});
    save();
    thread.appendChild(userTurn(turns[turns.length - 1]));
    var pending = el("li", {"class": "turn turn--pending"}, [
      el("p", {"class": "bubble"}, [el("span", {"class": "spinner", "aria-hidden": "true"}), "جارٍ البحث في المقالات…"])
    ]);
    thread.appendChild(pending);
    pending.scrollIntoView({block: "nearest"});
    status.textContent = "جارٍ البحث في المقالات…";
    setBusy(true);

    fetch(apiUrl, {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify({question: question, history: history})
    }).then(function (response) {
      return response.text().then(function (text) {
        try { return parseAnswer(text); } catch (e) { return null; }
      }).then(function (body) {
        if (!response.ok || !body || typeof body.answer !== "string") {
          var error = (body && body.error) || {};
          throw new Error(ERROR_MESSAGES[error.code] ||
            "تعذّر الحصول على إجابة (رمز الخطأ " + response.status + "). حاول مرة أخرى.");
        }
        return body;
      });
    }, function () {
      throw new Error("تعذّر الاتصال بالخادم. تحقّق من الاتصال وأعد المحاولة.");
    }).then(function (body) {
      var turn = {role: "assistant", content: body.answer, answered: body.answered !== false,
                  citations: body.citations || []};
      turns.push(turn);
      save();
      var item = assistantTurn(turn, turns.length - 1, question);
      pending.replaceWith(item);
      status.textContent = "";
      item.scrollIntoView({block: "nearest"});
    }).catch(function (error) {
      // The failed question leaves the stored conversation, so a follow-up never carries it as history.
      turns.pop();
      save();
      pending.replaceWith(errorTurn(error.message, question));
      status.textContent = "";
    }).then(function () {
      setBusy(false);
      input.focus();
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (busy) return;
    if (!question) {
      input.focus();
      return;
    }
    input.value = "";
    ask(question);
  });

  // Enter sends, Shift+Enter starts a new line; never while an input method is still composing.
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (form.requestSubmit) form.requestSubmit(); else form.dispatchEvent(new Event("submit", {cancelable: true}));
    }
  });

  if (newChat) {
    newChat.addEventListener("click", function (event) {
      event.preventDefault();
      if (busy) return;
      turns = [];
      save();
      render();
      if (location.search) history.replaceState(null, "", location.pathname);
      status.textContent = "بدأت محادثة جديدة.";
      input.value = "";
      input.focus();
    });
  }

  // A question answered by the server (a shared /ask?q= link, or the search page's suggestion) joins the
  // stored conversation; the address is cleaned so a reload does not add it twice.
  var initial = document.getElementById("initial-turn");
  if (initial) {
    try {
      var data = parseAnswer(initial.textContent);
      turns.push({role: "user", content: data.question});
      turns.push({role: "assistant", content: data.reply.answer, answered: data.reply.answered !== false,
                  citations: data.reply.citations || []});
      save();
    } catch (e) {
      // Leave the server-rendered turn as it is.
    }
    history.replaceState(null, "", location.pathname);
  }
  if (turns.length || initial) render();
})();
