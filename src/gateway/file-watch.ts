/**
 * Watching files that may be replaced by a symlink swap. Kubernetes mounts a Secret as
 * `tls.crt -> ..data/tls.crt` and updates it by creating a new timestamped folder and renaming a new
 * `..data` symlink over the old one, so a watch on the file itself never fires: the parent folder is
 * watched instead. A slow poll backs the watch up on file systems without inotify events (NFS, some
 * overlay set-ups). Callers compare contents; a change notice may be spurious.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export interface FileWatch {
  close(): void;
}

export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  options: { debounceMs?: number; pollSeconds?: number } = {},
): FileWatch {
  const debounceMs = options.debounceMs ?? 250;
  let timer: NodeJS.Timeout | undefined;
  const notify = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(files.map((f) => path.dirname(f)))) {
    try {
      const w = watch(dir, { persistent: false }, notify);
      w.on('error', () => undefined); // the folder may vanish during a swap; the poll still runs
      watchers.push(w);
    } catch {
      // Not watchable (missing or unsupported): the poll covers it.
    }
  }
  const poll = setInterval(onChange, (options.pollSeconds ?? 30) * 1000);
  poll.unref();
  return {
    close() {
      if (timer) clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}
