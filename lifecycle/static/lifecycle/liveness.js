// Live selfie capture: fetch a challenge, show the camera, record while prompting each head turn,
// send the clip with the challenge's nonce, show the result. Plain JS, no build step.
(function () {
  "use strict";
  const card = document.querySelector("section.liveness");
  if (!card) return;
  const $ = (id) => document.getElementById(id);
  const video = $("liveness-preview");
  const stage = video.parentElement;
  const prompt = $("liveness-prompt");
  const status = $("liveness-status");
  const steps = $("liveness-steps");
  const countdown = $("liveness-countdown");
  const start = $("liveness-start");
  const retry = $("liveness-retry");
  const result = $("liveness-result");
  const level = $("liveness-level");
  const csrf = card.querySelector("input[name=csrfmiddlewaretoken]").value;
  const ARROWS = { left: "\u2190", right: "\u2192" };
  const WORDS = { left: "your left", right: "your right" };
  let stream = null;

  function say(text) { status.textContent = text; }
  function show(element, visible) { element.hidden = !visible; }
  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, "Accept": "application/json" },
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const message = data && data.error ? data.error.message : "Something went wrong (" + response.status + ").";
      throw new Error(message);
    }
    return data;
  }

  function drawSteps(challenge, current) {
    steps.replaceChildren();
    challenge.forEach((direction, index) => {
      const item = document.createElement("li");
      item.textContent = ARROWS[direction] + " Turn to " + WORDS[direction];
      item.className = index < current ? "done" : index === current ? "current" : "";
      steps.appendChild(item);
    });
  }

  function recorderType() {
    const types = ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm", "video/mp4"];
    return types.find((t) => window.MediaRecorder && MediaRecorder.isTypeSupported(t)) || "";
  }

  async function openCamera() {
    if (stream) return stream;
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" }, audio: false,
    });
    video.srcObject = stream;
    stage.classList.add("live");
    await new Promise((resolve) => {
      if (video.readyState >= 2) resolve(); else video.addEventListener("playing", resolve, { once: true });
    });
    return stream;
  }

  function stopCamera() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    video.srcObject = null;
    stage.classList.remove("live");
    stage.querySelector(".liveness-placeholder").textContent = "Camera off. The clip is checked once, then deleted.";
  }

  async function runPrompts(challenge, leadIn, step) {
    const total = leadIn + step * challenge.length;
    const began = performance.now();
    const ticker = setInterval(() => {
      const left = Math.max(0, total - (performance.now() - began) / 1000);
      countdown.textContent = "Recording: " + left.toFixed(0) + " s left";
    }, 200);
    show(countdown, true);
    show(prompt, true);
    prompt.className = "liveness-prompt centre";
    prompt.textContent = "Look straight at the camera";
    drawSteps(challenge, -1);
    await sleep(leadIn * 1000);
    for (let i = 0; i < challenge.length; i++) {
      drawSteps(challenge, i);
      prompt.className = "liveness-prompt turn " + challenge[i];
      prompt.textContent = ARROWS[challenge[i]] + " Turn to " + WORDS[challenge[i]];
      say("Step " + (i + 1) + " of " + challenge.length + ": turn to " + WORDS[challenge[i]] + ".");
      await sleep(step * 600);
      prompt.className = "liveness-prompt centre";
      prompt.textContent = "Back to the centre";
      await sleep(step * 400);
    }
    drawSteps(challenge, challenge.length);
    clearInterval(ticker);
    show(countdown, false);
    show(prompt, false);
  }

  async function capture() {
    show(start, false); show(retry, false); show(result, false);
    try {
      say("Preparing your challenge\u2026");
      const challenge = await post(card.dataset.challengeUrl, new FormData());
      drawSteps(challenge.challenge, -1);
      say("Allow the camera when your browser asks.");
      await openCamera();
      const type = recorderType();
      const recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
      const chunks = [];
      recorder.addEventListener("dataavailable", (event) => { if (event.data.size) chunks.push(event.data); });
      const stopped = new Promise((resolve) => recorder.addEventListener("stop", resolve, { once: true }));
      recorder.start(250);
      say("Recording. Look straight at the camera.");
      await runPrompts(challenge.challenge, challenge.lead_in_s, challenge.step_s);
      recorder.stop();
      await stopped;
      stopCamera();
      say("Checking your clip\u2026 this takes a few seconds.");
      const clip = new Blob(chunks, { type: recorder.mimeType || "video/webm" });
      const form = new FormData();
      form.append("nonce", challenge.nonce);
      form.append("clip", clip, (recorder.mimeType || "").includes("mp4") ? "clip.mp4" : "clip.webm");
      finish(await post(card.dataset.clipUrl, form));
    } catch (error) {
      stopCamera();
      fail(error.name === "NotAllowedError" ? "The camera was not allowed. Allow it in your browser and try again." : error.message);
    }
  }

  function finish(outcome) {
    level.textContent = outcome.level_display;
    result.dataset.outcome = outcome.passed ? "passed" : "failed";
    result.dataset.level = outcome.level;
    if (outcome.passed) {
      result.className = "liveness-result passed";
      const added = outcome.templates_added;
      result.textContent = "Passed. Your identity assurance is now: " + outcome.level_display + ". "
        + (added === 0 ? "No photos were added (you already have as many as we keep)."
          : added === 1 ? "1 photo of your face was added."
          : added + " photos of your face from different angles were added.");
      say("Done.");
    } else {
      fail(outcome.reason);
    }
    show(result, true);
  }

  function fail(message) {
    result.className = "liveness-result failed";
    result.dataset.outcome = "failed";
    result.textContent = message;
    show(result, true);
    say("Not passed. You can try again with a new challenge.");
    show(retry, true);
  }

  start.addEventListener("click", capture);
  retry.addEventListener("click", capture);
})();
