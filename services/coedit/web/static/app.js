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
    });
    source.addEventListener("version", (event) => onVersion(JSON.parse(event.data)));
    source.addEventListener("chat", (event) => onChat(JSON.parse(event.data), event.lastEventId));
    source.addEventListener("analytics", (event) => onAnalytics(JSON.parse(event.data)));
  }

  connect();
})();
