// coedit web UI: one EventSource per page, fragments rendered (and escaped) by the server.
"use strict";
(() => {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  let lastChatId = body.dataset.chatAfter || "";

  function setLive(state, text) {
    const live = $("live");
    if (live) { live.dataset.state = state; live.textContent = text; }
  }

  // Replace the content of each element named by id with its server-rendered HTML.
  function swap(fragments) {
    for (const [id, html] of Object.entries(fragments || {})) {
      const element = $(id);
      if (element) element.innerHTML = html;
    }
  }

  async function load(url, target) {
    try {
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      if (response.ok) target.innerHTML = await response.text();
    } catch (error) { /* the server is away; the next event brings it back */ }
  }

  // --- document page ---
  const slider = $("version-slider");
  let sliderTimer = null;

  function showVersion(version) {
    $("version-label").textContent = version;
    clearTimeout(sliderTimer);
    sliderTimer = setTimeout(() => {
      load(`/document/version?v=${version}`, $("version-view"));
      const url = new URL(location.href);
      url.searchParams.set("v", version);
      history.replaceState(null, "", url);
    }, 120);
  }

  if (slider) slider.addEventListener("input", () => showVersion(slider.value));

  function onVersion(data) {
    swap(data.html);
    if (!slider) return;
    const following = Number(slider.value) === Number(slider.max);
    slider.max = data.version;
    if (following && Number(slider.value) !== data.version) {
      slider.value = data.version;
      showVersion(data.version);
    }
  }

  const diffForm = $("diff-form");
  if (diffForm) diffForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams(new FormData(diffForm));
    load(`/document/diff?${params}`, $("diff-view"));
    const url = new URL(location.href);
    params.forEach((value, key) => url.searchParams.set(key, value));
    url.hash = "diff";
    history.replaceState(null, "", url);
  });

  const colours = $("colour-authors");
  if (colours) colours.addEventListener("change", () => {
    $("document-live").classList.toggle("authorship", colours.checked);
  });

  // --- chat page ---
  const chatList = $("chat-list");
  const chatFilter = $("chat-filter");

  function chatMatches(item) {
    const agent = $("filter-agent").value;
    const types = [...chatFilter.querySelectorAll("input[name=type]:checked")].map((i) => i.value);
    return (!agent || item.dataset.agent === agent) && types.includes(item.dataset.type);
  }

  function filterChat() {
    for (const item of chatList.children) item.hidden = !chatMatches(item);
    const url = new URL(location.href);
    url.search = new URLSearchParams(new FormData(chatFilter));
    history.replaceState(null, "", url);
  }

  if (chatFilter) chatFilter.addEventListener("change", filterChat);

  function onChat(data, id) {
    lastChatId = id || lastChatId;
    if (!chatList || chatList.dataset.frozen) return;
    if (chatList.querySelector(`[data-id="${CSS.escape(id)}"]`)) return;
    chatList.insertAdjacentHTML("afterbegin", data.html);
    chatList.firstElementChild.hidden = !chatMatches(chatList.firstElementChild);
    const select = $("filter-agent");
    if (![...select.options].some((o) => o.value === data.agent_id)) {
      const option = document.createElement("option");
      option.value = option.textContent = data.agent_id;
      select.append(option);
    }
  }

  // --- a person taking part (signed in with the session's token) ---
  const nameInput = $("person-name");
  if (nameInput) {
    nameInput.value = localStorage.getItem("coedit-name") || "";
    nameInput.addEventListener("change", () => localStorage.setItem("coedit-name", nameInput.value.trim()));
  }
  const personName = () => (nameInput && nameInput.value.trim()) || "";

  async function postJson(url, payload) {
    const response = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.detail ? JSON.stringify(answer.detail) : answer.error || response.status);
    return answer;
  }

  function showPaused(paused) {
    if ($("pause")) $("pause").hidden = paused;
    if ($("resume")) $("resume").hidden = !paused;
  }

  for (const button of [$("pause"), $("resume")]) {
    if (!button) continue;
    button.addEventListener("click", async () => {
      try {
        const session = await postJson(`/api/session/${button.dataset.action}`, personName() ? { by: personName() } : {});
        showPaused(session.paused);
      } catch (error) { button.title = String(error); }
    });
  }

  const restore = $("restore");
  if (restore) restore.addEventListener("click", async () => {
    const status = $("restore-status");
    if (!personName()) { status.textContent = "give your name first (top right)"; nameInput.focus(); return; }
    try {
      const answer = await postJson("/api/document/restore", { version: Number(slider.value), agent_id: personName() });
      status.textContent = `restored as version ${answer.version}`;
    } catch (error) { status.textContent = `not restored: ${error.message}`; }
  });

  const chatPost = $("chat-post");
  if (chatPost) chatPost.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = $("chat-post-status");
    if (!personName()) { status.textContent = "give your name first (top right)"; nameInput.focus(); return; }
    try {
      await postJson("/api/chat", { author: personName(), text: $("chat-text").value });
      $("chat-text").value = "";
      status.textContent = "sent";
    } catch (error) { status.textContent = `not sent: ${error.message}`; }
  });

  // --- analytics ---
  let analyticsPrimed = false;  // the first event is the snapshot the page was rendered from

  function onAnalytics(data) {
    swap(data.html);
    const panel = $("analytics-panel");
    if (!analyticsPrimed) { analyticsPrimed = true; return; }
    if (panel) load(`/analytics/panel?window=${encodeURIComponent(panel.dataset.window)}`, panel);
  }

  // --- the live stream ---
  function connect() {
    const params = new URLSearchParams({ topics: body.dataset.topics || "status" });
    if (lastChatId) params.set("chat_after", lastChatId);
    const source = new EventSource(`/events?${params}`);
    source.onopen = () => setLive("open", "live");
    source.onerror = () => {
      setLive("reconnecting", "reconnecting…");
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    };
    source.addEventListener("status", (event) => {
      const data = JSON.parse(event.data);
      swap(data.html);
      body.classList.toggle("degraded", data.degraded.length > 0);
      showPaused(data.paused);
    });
    source.addEventListener("version", (event) => onVersion(JSON.parse(event.data)));
    source.addEventListener("chat", (event) => onChat(JSON.parse(event.data), event.lastEventId));
    source.addEventListener("analytics", (event) => onAnalytics(JSON.parse(event.data)));
  }

  connect();
})();
